"""Semantic versions, parsed by the ``semver`` library and stored so the database can order them.

A version is stored as integer major/minor/patch, the prerelease text, and ``prerelease_key``: a string whose
byte order is semver precedence among prereleases (numeric identifiers compare numerically, a numeric identifier
sorts before an alphanumeric one, a shorter list of identifiers sorts first). A release gets the key ``~``, which
sorts after every prerelease key, so ``ORDER BY major, minor, patch, prerelease_key`` is semver order.
"""

from __future__ import annotations

from dataclasses import dataclass

import semver
from django.db import models

MAX_COMPONENT = 2**31 - 1
MAX_LENGTH = 128
RELEASE_KEY = "~"
_NUMERIC_WIDTH = 10  # enough for MAX_COMPONENT-sized numeric prerelease identifiers


class InvalidVersion(ValueError):
    pass


@dataclass(frozen=True)
class ParsedVersion:
    major: int
    minor: int
    patch: int
    prerelease: str
    build: str

    @property
    def text(self) -> str:
        out = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            out += f"-{self.prerelease}"
        if self.build:
            out += f"+{self.build}"
        return out

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    @property
    def prerelease_key(self) -> str:
        return prerelease_key(self.prerelease)

    def sort_tuple(self) -> tuple[int, int, int, str]:
        return (self.major, self.minor, self.patch, self.prerelease_key)

    def identity(self) -> dict:
        """The fields that identify a version: build metadata does not count (semver.org, item 10)."""
        return {"major": self.major, "minor": self.minor, "patch": self.patch, "prerelease": self.prerelease}

    def as_fields(self) -> dict:
        return {
            "version": self.text,
            "major": self.major,
            "minor": self.minor,
            "patch": self.patch,
            "prerelease": self.prerelease,
            "prerelease_key": self.prerelease_key,
            "build": self.build,
        }


def parse_version(text: object) -> ParsedVersion:
    if not isinstance(text, str):
        raise InvalidVersion("A version must be a string such as '1.2.3'.")
    if len(text) > MAX_LENGTH:
        raise InvalidVersion(f"A version is at most {MAX_LENGTH} characters.")
    try:
        parsed = semver.Version.parse(text)
    except (ValueError, TypeError):
        raise InvalidVersion(
            f"'{text}' is not a semantic version: use MAJOR.MINOR.PATCH with an optional -prerelease and "
            "+build (for example '1.4.0' or '2.0.0-rc.1'), see semver.org."
        ) from None
    for part in (parsed.major, parsed.minor, parsed.patch):
        if part > MAX_COMPONENT:
            raise InvalidVersion(f"'{text}': each of MAJOR, MINOR and PATCH must be at most {MAX_COMPONENT}.")
    for ident in (parsed.prerelease or "").split("."):
        if ident.isdigit() and int(ident) > MAX_COMPONENT:
            raise InvalidVersion(f"'{text}': numeric prerelease identifiers must be at most {MAX_COMPONENT}.")
    return ParsedVersion(parsed.major, parsed.minor, parsed.patch, parsed.prerelease or "", parsed.build or "")


def prerelease_key(prerelease: str) -> str:
    if not prerelease:
        return RELEASE_KEY
    parts = []
    for ident in prerelease.split("."):
        if ident.isdigit():
            parts.append("0" + ident.zfill(_NUMERIC_WIDTH))
        else:
            parts.append("1" + ident)
    # "!" sorts below every character an identifier may hold, so "alpha" < "alpha.1".
    return "!".join(parts)


class SortKeyField(models.CharField):
    """A CharField compared byte by byte on PostgreSQL.

    PostgreSQL's default (linguistic) collation ignores punctuation, which would break ``prerelease_key`` order;
    SQLite already compares bytes. The collation is chosen per connection so migrations stay portable.
    """

    def db_parameters(self, connection):
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params
