"""A change-log entry made readable: a sentence saying what happened to what, then one line per field, a change as
``before -> after`` and a fact (``created``, ``spec_sha256``) as its value. The landing page's latest changes
and the definitions' history sections render entries with ``render_change`` (or the ``{% change_entry %}`` tag
of ``kernel/templatetags/registry_console.py``) and the template ``admin/registry/change_entry.html``.

The change log stores each changed field as ``[before, after]`` and a fact as a plain value
(``kernel.models.changelog``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from kernel.models.changelog import ChangeLogEntry

VALUE_CHARS = 160  # a value longer than this is cut with an ellipsis: a line, not a dump
FIELDS_SHOWN = 12  # per entry; the rest are counted


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str | None  # None: a fact, not a change (``after`` holds its value)
    after: str
    is_change: bool


def shown(value: Any) -> str:
    """A value as one short line: text as it is, anything else as compact JSON; cut at ``VALUE_CHARS``."""
    if value is None:
        text = "none"
    elif isinstance(value, str):
        text = value or '""'
    else:
        text = json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def headline(entry: ChangeLogEntry) -> str:
    """'model llama2-7b-chat 1.1.0: version registered'."""
    verb = entry.action.split(".", 1)[-1].replace("_", " ")
    subject = " ".join(part for part in (entry.kind, entry.name, entry.version) if part)
    return f"{subject}: {verb}" if subject else verb


def field_changes(changes: Any) -> tuple[list[FieldChange], int]:
    """The entry's fields as lines (at most ``FIELDS_SHOWN``) and how many more there are."""
    if not isinstance(changes, dict):
        return [FieldChange("changes", None, shown(changes), False)], 0
    lines = []
    for field, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            lines.append(FieldChange(str(field), shown(value[0]), shown(value[1]), True))
        else:
            lines.append(FieldChange(str(field), None, shown(value), False))
    return lines[:FIELDS_SHOWN], max(0, len(lines) - FIELDS_SHOWN)


def change_context(entry: ChangeLogEntry, link: str | None = None) -> dict[str, Any]:
    lines, more = field_changes(entry.changes)
    return {"entry": entry, "headline": headline(entry), "lines": lines, "more": more, "link": link}


def render_change(entry: ChangeLogEntry, link: str | None = None) -> SafeString:
    """One entry as HTML (``admin/registry/change_entry.html``); ``link`` makes the headline a link."""
    return render_to_string("admin/registry/change_entry.html", change_context(entry, link))


def render_change_fields(entry: ChangeLogEntry) -> SafeString:
    """Only the field lines of an entry (a change-log list's column, where the row already says what and when)."""
    return render_to_string("admin/registry/change_fields.html", change_context(entry))
