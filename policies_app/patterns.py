"""Entity and resource patterns: ``kind:name`` where ``*`` stands for the whole name (``user:*``), the end of
the name (``model:llama2-*``), or everything (``*``).

Specificity ranks a pattern for conflict resolution: an exact name beats a prefix wildcard, which beats a
whole-name wildcard, which beats ``*``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KIND = r"[a-z][a-z0-9_-]{0,63}"
NAME_CHARS = r"[A-Za-z0-9._@/:+-]"
# Kept in step with the "pattern" definition in schemas/policy.json (the schema gives the friendly message).
# Always used with fullmatch: "$" would also match before a final newline.
PATTERN_RE = re.compile(rf"(?:\*|{KIND}:(?:\*|{NAME_CHARS}{{1,255}}\*?))")
VALUE_RE = re.compile(rf"{KIND}:{NAME_CHARS}{{1,256}}")

ANY, KIND_WIDE, PREFIX, EXACT = 0, 1, 2, 3
RANK_NAMES = {ANY: "any", KIND_WIDE: "kind", PREFIX: "prefix", EXACT: "exact"}


class InvalidPattern(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Pattern:
    text: str
    kind: str | None  # None for "*"
    prefix: str  # the full value for EXACT, "kind:" + name prefix for PREFIX
    rank: int

    @classmethod
    def parse(cls, text: str) -> Pattern:
        if not isinstance(text, str) or not PATTERN_RE.fullmatch(text):
            raise InvalidPattern(f"{text!r} is not a pattern 'kind:name', 'kind:prefix*', 'kind:*' or '*'.")
        if text == "*":
            return cls(text, None, "", ANY)
        kind, name = text.split(":", 1)
        if name == "*":
            return cls(text, kind, f"{kind}:", KIND_WIDE)
        if name.endswith("*"):
            return cls(text, kind, text[:-1], PREFIX)
        return cls(text, kind, text, EXACT)

    def matches(self, value: str) -> bool:
        """``value`` is a concrete ``kind:name``."""
        if self.rank == EXACT:
            return value == self.prefix
        if self.rank == ANY:
            return True
        return value.startswith(self.prefix)  # PREFIX and KIND_WIDE both end in the kind's colon or later
