"""Which version is a definition's *latest*: the one rule, as an ORM ordering, as a Python key and as a SQL row.

Latest is the highest release by semver precedence; a prerelease only when no release exists. Archived versions
count only when every version is archived, so "latest" never serves a retired spec while a live one exists.
The PL/pgSQL registration (``kernel.migration_operations``) compares the same columns in the same order, as a row
value (``rank_sql``): its text is frozen in a migration, so it is not generated from this module but held to it by
``tests/kernel/test_rules_in_sql.py``, which checks the text against ``rank_sql`` and the comparison's answers against
``latest_rank``; the equivalence tests (``tests/kernel/test_definition_pointers.py``,
``tests/kernel/test_one_statement_writes.py``) hold the paths equal.
"""

from __future__ import annotations

from django.db.models import Case, Value, When

from kernel.choices import Lifecycle

# The columns of the rank after the two flags, in precedence order (descending).
PRECEDENCE = ("major", "minor", "patch", "prerelease_key")
NEWEST_FIRST = tuple(f"-{column}" for column in PRECEDENCE)
# Text columns of PRECEDENCE, compared byte by byte (a SortKeyField), as Python compares str.
BYTEWISE = ("prerelease_key",)


def latest_order() -> list:
    """The ORM ordering that puts a definition's latest version first."""
    return [
        Case(When(status=Lifecycle.ARCHIVED, then=Value(1)), default=Value(0)),
        Case(When(prerelease="", then=Value(0)), default=Value(1)),
        *NEWEST_FIRST,
    ]


def latest_rank(version) -> tuple:
    """``latest_order`` as a Python key: the version with the greater rank is the later "latest"."""
    return (version.status != Lifecycle.ARCHIVED, not version.prerelease, *(getattr(version, c) for c in PRECEDENCE))


def rank_sql(row: str) -> str:
    """``latest_rank`` as a PostgreSQL row value over the version row variable ``row``: of two such rows, the
    greater (``>``) is the later "latest"."""
    flags = [f"{row}.status <> '{Lifecycle.ARCHIVED}'", f"{row}.prerelease = ''"]
    columns = [f'{row}.{column} COLLATE "C"' if column in BYTEWISE else f"{row}.{column}" for column in PRECEDENCE]
    return f"ROW({', '.join([*flags, *columns])})"
