"""The service behind PgBouncer in transaction mode (``DATABASE_POOLER=pgbouncer-transaction``): a real gunicorn
whose every database connection goes through a real PgBouncer, which hands each transaction a server session in
turn (``server_round_robin``), so anything kept in a session between transactions (a prepared statement, a
server-side cursor, a session-level advisory lock) would fail a request or be left behind where this test looks.
Registrations, concurrent writes on one model, reads, alias moves, a policy evaluation and a retention run all go
through it, with fewer server sessions than the server has threads."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request

import psycopg
import pytest
import yaml
from django.contrib.auth import get_user_model
from django.db import connection

from kernel.models import ApiKey
from tests.servers import PGBOUNCER, ROOT, gunicorn, pgbouncer, shared_database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

POOL_SIZE = 4
WRITERS = 6
VERSIONS_EACH = 4


def call(base: str, key: str, method: str, path: str, body=None) -> tuple[int, object]:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode(errors="replace")[:500]


def server_sessions() -> list[tuple]:
    """The client sessions the PostgreSQL server has on the test database, other than the test's own two."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own = cursor.fetchone()[0]
    with psycopg.connect(shared_database_url(), autocommit=True, connect_timeout=5) as admin:
        return admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND pid <> %s",
            [own],
        ).fetchall()


def advisory_locks() -> list[tuple]:
    with psycopg.connect(shared_database_url(), autocommit=True, connect_timeout=5) as admin:
        return admin.execute(
            "SELECT l.pid, l.classid, l.objid FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND d.datname = current_database()"
        ).fetchall()


def test_the_service_runs_behind_pgbouncer_in_transaction_mode(model_doc):
    if not os.access(PGBOUNCER, os.X_OK) and not os.environ.get("CI"):
        pytest.skip(f"no PgBouncer at {PGBOUNCER} (apt-get install pgbouncer; .ci/run does)")
    _, key = ApiKey.objects.issue(get_user_model().objects.create_superuser("svc", password="svc-password-123"))
    env = {"DATABASE_POOLER": "pgbouncer-transaction", "CONN_MAX_AGE": "600"}
    # Sessions this worker already had (pytest-django's live server thread, if a browser test ran here first).
    before = set(server_sessions())
    with pgbouncer(pool_size=POOL_SIZE) as pooled_url:
        env["DATABASE_URL"] = pooled_url
        with gunicorn(workers=2, env=env, options=("--threads", "8")) as base:
            assert call(base, key, "POST", "/api/v1/models", model_doc(name="pooled", version="1.0.0"))[0] == 201

            # Concurrent writes on one model: every version lands once, each writer's answers are all 201.
            answers: list[tuple[str, int, object]] = []
            lock = threading.Lock()

            def writer(index: int) -> None:
                for number in range(VERSIONS_EACH):
                    version = f"2.{index}.{number}"
                    status, body = call(
                        base, key, "POST", "/api/v1/models/pooled/versions", model_doc(name="pooled", version=version)
                    )
                    with lock:
                        answers.append((version, status, body))

            threads = [threading.Thread(target=writer, args=(index,)) for index in range(WRITERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert [(v, s, b) for v, s, b in answers if s != 201] == []
            assert len(answers) == WRITERS * VERSIONS_EACH

            # Reads, many in a row on each thread's kept connection (each in whichever server session is next).
            for _ in range(3):
                status, document = call(base, key, "GET", "/api/v1/models/pooled")
                assert status == 200 and document["version"] == f"2.{WRITERS - 1}.{VERSIONS_EACH - 1}"
                status, versions = call(base, key, "GET", "/api/v1/models/pooled/versions?limit=100")
                assert status == 200 and versions["count"] == 1 + WRITERS * VERSIONS_EACH
                assert call(base, key, "GET", "/api/v1/models?search=pooled")[0] == 200

            # Alias moves, one after another, each in the alias's history.
            for version in ("2.0.0", "2.1.0", "2.2.0"):
                status, body = call(base, key, "PUT", "/api/v1/models/pooled/aliases/champion", {"version": version})
                assert status in (200, 201), body
            status, alias = call(base, key, "GET", "/api/v1/models/pooled/aliases/champion")
            assert status == 200 and alias["version"] == "2.2.0"
            status, history = call(base, key, "GET", "/api/v1/models/pooled/aliases/champion/history")
            assert status == 200 and len(history["results"]) == 3

            # A policy evaluation reads the policies with .iterator(), a server-side cursor unless they are off.
            rbac = {"subject": "user:alice", "resource": "api:inference", "actions": ["*"], "effect": "allow"}
            policy = {"name": "access", "version": "1.0.0", "type": "rbac", "rules": [rbac]}
            assert call(base, key, "POST", "/api/v1/policies", policy)[0] == 201
            request = {"entity": "user:alice", "resource": "api:inference", "action": "read"}
            status, decision = call(base, key, "POST", "/api/v1/policies/evaluate", request)
            assert status == 200 and decision["allowed"] is True, decision

            # Retention through the pooler (it takes no session-level advisory lock there), twice: the second
            # run finds nothing left, and no lock is left behind in any server session.
            status, report = call(base, key, "POST", "/api/v1/retention/apply", {"model": "pooled", "keep": 2})
            assert status == 200 and report["counts"]["archived"] > 0, report
            status, again = call(base, key, "POST", "/api/v1/retention/apply", {"model": "pooled", "keep": 2})
            assert status == 200 and again["counts"]["archived"] == 0, again
            assert advisory_locks() == []

            # Sixteen threads, yet the server has no more sessions than the pool holds (and it did use several).
            assert 1 < len(set(server_sessions()) - before) <= POOL_SIZE


def test_the_shipped_pgbouncer_configuration_pools_by_transaction_and_checks_passwords():
    """deploy/kubernetes/pgbouncer.yaml's pgbouncer.ini, run by Debian's PgBouncer with only its address, user list
    and database pointed here: it accepts the user with the password of its user list, refuses another, and lends
    server sessions by transaction (a second client gets the session the first, still connected, has released;
    in session mode it would get one of its own)."""
    if not os.access(PGBOUNCER, os.X_OK) and not os.environ.get("CI"):
        pytest.skip(f"no PgBouncer at {PGBOUNCER} (apt-get install pgbouncer; .ci/run does)")
    manifests = yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "pgbouncer.yaml").read_text())
    (config,) = (m["data"]["pgbouncer.ini"] for m in manifests if m["kind"] == "ConfigMap")
    with pgbouncer(shipped=config, password="pooled-secret-1") as url:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as first:
            (pid,) = first.execute("SELECT pg_backend_pid()").fetchone()
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as second:
                assert second.execute("SELECT pg_backend_pid()").fetchone() == (pid,)
                assert second.execute("SELECT count(*) FROM django_migrations").fetchone()[0] > 0
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            psycopg.connect(url.replace("pooled-secret-1", "another-secret"), connect_timeout=5).close()
