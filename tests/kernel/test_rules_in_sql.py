"""Rules that PostgreSQL applies in SQL of its own, held to their Python source over many cases: which version is
latest and a version's effective tags (the registration function, frozen in a migration: kernel/migration_operations
.py), and which webhook patterns match an action (the outbox's set form, kernel/models/webhooks.py). The SQL under
test is cut from the very text the database runs, not a copy of it."""

from __future__ import annotations

import itertools
import json
import random
import re
from types import SimpleNamespace

import pytest
from django.db import connection

from kernel.choices import Lifecycle
from kernel.documents.shape import effective_tags_of
from kernel.migration_operations import REGISTRATION_FUNCTION_V1
from kernel.models.webhooks import EVENT_MATCH_SQL, event_matches
from kernel.rules.latest import latest_rank, rank_sql
from kernel.rules.semver import parse_version

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def on_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("the SQL twins run on PostgreSQL only")


def statement(pattern: str) -> str:
    """The registration function's text matched by ``pattern`` (its one group)."""
    found = re.search(pattern, REGISTRATION_FUNCTION_V1, re.S)
    assert found, pattern
    return found.group(1)


# -- latest ----------------------------------------------------------------------------------------------------------

VERSIONS = [
    "0.9.9",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "1.10.0",
    "2.0.0",
    "10.0.0",
    "2147483647.0.0",
    "1.0.0-0",
    "1.0.0-1",
    "1.0.0-2",
    "1.0.0-10",
    "1.0.0-a",
    "1.0.0-A",
    "1.0.0-a-b",
    "1.0.0-a.b",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0-rc.1.0",
    "2.0.0-rc.1",
    "1.0.0+build.5",
]


def test_the_registration_function_ranks_by_the_latest_rule_columns():
    compared = statement(r"v\.is_latest := l\.id IS NULL OR\s+(ROW\(.*?\)\s*>\s*ROW\(.*?\));")
    assert re.fullmatch(r"(ROW\(.*?\))\s*>\s*(ROW\(.*?\))", compared, re.S).groups() == (rank_sql("v"), rank_sql("l"))


def test_the_registration_functions_comparison_agrees_with_latest_rank_for_every_pair():
    compared = statement(r"v\.is_latest := l\.id IS NULL OR\s+(ROW\(.*?\)\s*>\s*ROW\(.*?\));")
    rows = [
        {"i": i, "status": status, **{k: v for k, v in parse_version(text).as_fields().items() if k != "version"}}
        for i, (text, status) in enumerate(itertools.product(VERSIONS, Lifecycle.values))
    ]
    columns = "i int, status text, prerelease text, major int, minor int, patch int, prerelease_key text, build text"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT v.i, l.i, {compared} FROM jsonb_to_recordset(%s::jsonb) AS v({columns}),"
            f" jsonb_to_recordset(%s::jsonb) AS l({columns})",
            [json.dumps(rows), json.dumps(rows)],
        )
        in_sql = {(v, other): later for v, other, later in cursor.fetchall()}
    ranks = [latest_rank(SimpleNamespace(**row)) for row in rows]
    in_python = {(v, other): ranks[v] > ranks[other] for v in range(len(rows)) for other in range(len(rows))}
    assert len(in_sql) == len(rows) ** 2 > 5000
    assert in_sql == in_python


# -- effective tags --------------------------------------------------------------------------------------------------


def tag_cases() -> list[tuple]:
    pool = ["a", "b", "c", "A", "team-x", "ü", "a.b", ""]
    picked = random.Random(25)
    lists = [[]] + [[picked.choice(pool) for _ in range(picked.randint(1, 4))] for _ in range(40)]
    own = [tags for tags in lists if len(set(tags)) == len(tags)]  # a version's own tags are unique (the schema)
    definition = [*lists, None, {"a": 1}, "a"]  # a definition's stored tags, even where no write would put them
    return [(version_tags, definition_tags) for version_tags in own for definition_tags in definition]


def test_the_registration_functions_effective_tags_agree_with_effective_tags_of():
    derived = statement(r"v\.effective_tags := (.*?);\n")
    cases = tag_cases()
    assert len(cases) > 1000
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.i, {derived} FROM jsonb_to_recordset(%s::jsonb) AS c(i int, own jsonb, definition jsonb),"
            " LATERAL (SELECT c.own AS tags) v, LATERAL (SELECT c.definition AS tags) d",
            [json.dumps([{"i": i, "own": own, "definition": of} for i, (own, of) in enumerate(cases)])],
        )
        in_sql = dict(cursor.fetchall())
    in_sql = {i: json.loads(tags) if isinstance(tags, str) else tags for i, tags in in_sql.items()}
    assert in_sql == {i: effective_tags_of(own, of) for i, (own, of) in enumerate(cases)}


# -- webhook event patterns ------------------------------------------------------------------------------------------

PATTERNS = [
    "*",
    "**",
    "*x",
    "model.*",
    "model.version_*",
    "model.version_registered",
    "model.version_registered*",
    "model",
    "model.",
    "mod*",
    "model.*.x",
    "pipeline.*",
    "MODEL.*",
    "",
    "%",
    "_odel.*",
    "model._*",
    "%.*",
    "model\\*",
    "binding.*",
    "ü*",
]
ACTIONS = [
    "model.version_registered",
    "model.version_activated",
    "model.version_registeredx",
    "pipeline.registered",
    "policy.version_updated",
    "binding.created",
    "model",
    "model.",
    "",
    "x*",
    "%",
    "Model.version_registered",
    "model.*",
    "üx",
    "model\\x",
]


def test_the_outbox_matches_an_action_exactly_when_event_matches_does():
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.pattern, e.action, {EVENT_MATCH_SQL}"
            " FROM unnest(%s::text[]) AS p(pattern), unnest(%s::text[]) AS e(action)",
            [PATTERNS, ACTIONS],
        )
        in_sql = {(pattern, action): matched for pattern, action, matched in cursor.fetchall()}
    in_python = {(pattern, action): event_matches([pattern], action) for pattern in PATTERNS for action in ACTIONS}
    assert len(in_sql) == len(PATTERNS) * len(ACTIONS)
    assert in_sql == in_python
    assert sum(in_python.values()) > 20  # both answers occur
