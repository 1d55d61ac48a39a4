"""Loaded with ``-p tests.replica_mode`` by ``tests/replica_suite.py``: the suite against a real read replica.

The replica's URL comes as ``REGISTRY_TEST_REPLICA_URLS`` and is ``DATABASE_REPLICA_URLS`` only while Django reads
its settings: the processes tests start (gunicorn, Celery, ``manage.py`` on SQLite) inherit the environment, and a
replica URL naming the suite's template database rather than its test database, or beside a SQLite primary, is
not what they were started to run. A server on the test database gets the replica's URL from
``tests.servers.shared_replica_urls()``.

Every test that uses the database runs in autocommit (pytest-django's ``transaction=True``, the database emptied
after each test by ``_empty_every_table``) and may use every alias: a replica sees committed rows only, and the
router sends the reads of a connection inside a transaction to the primary. The statement-count fixtures are
replaced in ``tests/conftest.py`` (``_count_on_every_database``): a fixture of a ``-p`` plugin would lose to
pytest-django's own.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

ROUTING = ("pg_current_wal_insert_lsn", "pg_last_wal_replay_lsn", "pg_is_in_recovery")


URLS = os.environ.get("REGISTRY_TEST_REPLICA_URLS", "")
if URLS:
    os.environ["DATABASE_REPLICA_URLS"] = URLS  # before Django is set up (a -p plugin is imported first)


def active() -> bool:
    return bool(URLS)


# Emptied after each test in one statement: every table's rows deleted, triggers and foreign keys not fired
# (``session_replication_role``: the change log's append-only trigger, and the tables go in any order), the
# migrations' own rows and Django's content types and permissions kept.
EMPTY_EVERY_TABLE = """
DO $$
DECLARE table_name text;
BEGIN
    SET LOCAL session_replication_role = replica;
    FOR table_name IN
        SELECT quote_ident(tablename) FROM pg_tables
        WHERE schemaname = 'public' AND tablename NOT IN ('django_migrations', 'django_content_type', 'auth_permission')
    LOOP
        EXECUTE 'DELETE FROM ' || table_name;
    END LOOP;
END $$
"""


def _empty_every_table(self) -> None:
    """``TransactionTestCase._fixture_teardown`` here. Django's flush (TRUNCATE of every table, then the content
    types and permissions made again by post_migrate) took 0.3-0.5 s per test once each commit waits for the
    replica; deleting the few rows a test wrote takes a few milliseconds."""
    from django.db import connections, transaction

    for alias in self._databases_names(include_mirrors=False):
        with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
            cursor.execute(EMPTY_EVERY_TABLE)


# Where this process's API reads were sent (the in-process ones; servers' reads show in the replica's statistics),
# written to REGISTRY_TEST_REPLICA_REPORT/<worker>.json at the end for tests/replica_suite.py to add up.
CHOSEN: Counter = Counter()


def _count_choices(rotation_class) -> None:
    choose = rotation_class.choose

    def counted(self, token):
        alias = choose(self, token)
        CHOSEN["primary" if alias == "default" else "replica"] += 1
        return alias

    rotation_class.choose = counted


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    import django.test
    from django.conf import settings

    from registry_project.replicas import Rotation

    assert list(settings.DATABASES)[1:] == [f"replica_{n}" for n in range(1, len(URLS.split(",")) + 1)]
    os.environ.pop("DATABASE_REPLICA_URLS", None)
    django.test.TransactionTestCase._fixture_teardown = _empty_every_table
    _count_choices(Rotation)


def pytest_sessionfinish(session):
    folder = os.environ.get("REGISTRY_TEST_REPLICA_REPORT")
    if folder and CHOSEN:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        (Path(folder) / f"{worker}.json").write_text(json.dumps(CHOSEN))


def pytest_report_header(config):
    return f"read replica: {URLS} (every database test in autocommit)"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None and "_django_db_helper" not in item.fixturenames:
            continue  # no database: nothing to commit or to read back
        kwargs = {**(marker.kwargs if marker else {}), "transaction": True, "databases": "__all__"}
        item.add_marker(pytest.mark.django_db(**kwargs), append=False)


def is_routing(statement: dict) -> bool:
    """One of the replica routing's own statements (the consistency token after a write, a rotation check)."""
    return any(function in statement["sql"] for function in ROUTING)
