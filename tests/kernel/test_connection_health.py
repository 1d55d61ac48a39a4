"""The connection health check (registry_project/db/base.py) finds a connection the server has closed without
sending ``SELECT 1``, and a request after the server killed the session is served on a fresh connection."""

from __future__ import annotations

import json
import select
import time
import urllib.request

import pytest
from django.db import connection, connections

from kernel.models import ApiKey
from tests.servers import gunicorn

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_connection(db):
    """A second connection to the test database (the test's own is inside the test's transaction)."""
    if connection.vendor != "postgresql":
        pytest.skip("the health check is PostgreSQL's")
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    assert type(wrapper).__module__ == "registry_project.db.base"
    yield wrapper
    wrapper.close()


def queries_sent(wrapper, monkeypatch) -> list:
    """Every cursor opened on the raw psycopg connection (Django's SELECT 1 opens one)."""
    opened = []
    raw = wrapper.connection
    real = raw.cursor
    monkeypatch.setattr(raw, "cursor", lambda *args, **kwargs: opened.append(args) or real(*args, **kwargs))
    return opened


def terminate(wrapper) -> int:
    pid = wrapper.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    poller = select.poll()
    poller.register(wrapper.connection.pgconn.socket, select.POLLIN)
    assert poller.poll(5000), "the server did not close the session"
    return pid


def test_a_live_connection_is_usable_without_a_query(own_connection, monkeypatch):
    opened = queries_sent(own_connection, monkeypatch)
    assert own_connection.is_usable() is True
    assert opened == []


def test_a_killed_session_is_found_dead_without_a_query_and_replaced(own_connection, monkeypatch):
    old_pid = terminate(own_connection)
    opened = queries_sent(own_connection, monkeypatch)
    assert own_connection.is_usable() is False
    assert opened == []

    own_connection.close_if_unusable_or_obsolete()  # what the start of a request does
    with own_connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != old_pid


def test_a_message_on_an_idle_connection_that_is_not_an_error_is_checked_with_a_query(own_connection, monkeypatch):
    # The server may speak unasked without ending the session (here a NOTIFY on a channel this connection listens
    # to): the check then asks with SELECT 1 and keeps the connection.
    with own_connection.cursor() as cursor:
        cursor.execute("LISTEN registry_health_test")
    pid = own_connection.connection.info.backend_pid
    sender = connections.create_connection("default")
    try:
        with sender.cursor() as cursor:  # autocommit: delivered at once
            cursor.execute("SELECT pg_notify('registry_health_test', 'x')")
    finally:
        sender.close()
    poller = select.poll()
    poller.register(own_connection.connection.pgconn.socket, select.POLLIN)
    assert poller.poll(5000), "the notification did not arrive"

    opened = queries_sent(own_connection, monkeypatch)
    assert own_connection.is_usable() is True
    assert len(opened) == 1
    with own_connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] == pid


@pytest.mark.django_db(transaction=True)
def test_a_request_after_the_server_killed_the_session_is_served_not_a_500(user):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    _, key = ApiKey.objects.issue(user)

    def get_models() -> int:
        request = urllib.request.Request(f"{base}/api/v1/models", headers={"Authorization": f"Api-Key {key}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            json.loads(response.read())
            return response.status

    with gunicorn(workers=1) as base:
        assert get_models() == 200  # the worker now holds a persistent connection
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            assert cursor.rowcount >= 1
        time.sleep(0.2)
        assert get_models() == 200
