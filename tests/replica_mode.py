"""Loaded with ``-p tests.replica_mode`` by ``tests/replica_suite.py``: the suite against a real read replica.

The replica's URL comes as ``REGISTRY_TEST_REPLICA_URLS`` and is ``DATABASE_REPLICA_URLS`` only while Django reads
its settings: the processes tests start (gunicorn, Celery, ``manage.py`` on SQLite) inherit the environment, and a
replica URL naming the suite's template database rather than its test database, or beside a SQLite primary, is
not what they were started to run. A server on the test database gets the replica's URL from
``tests.servers.shared_replica_urls()``.

Every test that uses the database runs in autocommit (pytest-django's ``transaction=True``, the database emptied
after each test) and may use every alias: a replica sees committed rows only, and the router sends the reads of a
connection inside a transaction to the primary. The statement-count fixtures are replaced in ``tests/conftest.py``
(``count_on_every_database``): a fixture of a ``-p`` plugin would lose to pytest-django's own.
"""

from __future__ import annotations

import os

import pytest

ROUTING = ("pg_current_wal_insert_lsn", "pg_last_wal_replay_lsn", "pg_is_in_recovery")


URLS = os.environ.get("REGISTRY_TEST_REPLICA_URLS", "")
if URLS:
    os.environ["DATABASE_REPLICA_URLS"] = URLS  # before Django is set up (a -p plugin is imported first)


def active() -> bool:
    return bool(URLS)


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    from django.conf import settings

    assert list(settings.DATABASES)[1:] == [f"replica_{n}" for n in range(1, len(URLS.split(",")) + 1)]
    os.environ.pop("DATABASE_REPLICA_URLS", None)


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
