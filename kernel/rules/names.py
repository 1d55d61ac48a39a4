"""The one name rule of every definition: a lowercase slug of 1-128 characters.

The Python pattern below is the source. The URL routes, the bindings' ``model`` field and the ORM field's
validator use it directly; the JSON Schema files (ECMA-262, where ``$`` is the end of input) and the database's
CHECK constraint (which leaves the length to the column) are checked against it by
``tests/kernel/test_name_rule.py``.
"""

from __future__ import annotations

import re

from django.core.validators import RegexValidator

# Unanchored, for URL patterns and composition; every match below is anchored (fullmatch, \A...\Z).
NAME = r"[a-z0-9][a-z0-9._-]{0,127}"
NAME_RE = re.compile(NAME)
NAME_MESSAGE = "A name is a lowercase slug: a-z, 0-9, '.', '_' or '-', starting with a letter or digit."
# \Z, not $: Python's $ also matches before a final newline ("p\n" would pass).
name_validator = RegexValidator(rf"^{NAME}\Z", NAME_MESSAGE)


def is_name(text: object) -> bool:
    return isinstance(text, str) and NAME_RE.fullmatch(text) is not None
