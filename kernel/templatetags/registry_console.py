"""Template tags of the curator console: ``{% change_entry entry %}`` renders one change-log entry readably
(``kernel.admin.changes``)."""

from __future__ import annotations

from django import template

from kernel.admin.changes import render_change

register = template.Library()


@register.simple_tag
def change_entry(entry, link=None):
    return render_change(entry, link)
