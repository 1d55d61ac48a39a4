"""Read replicas with a real streaming replica (tests/replica_cluster.py) behind a real gunicorn.

Which server answered is read from each server's own statistics (``pg_stat_statements``): the statements that
read the registry's tables, counted on the primary and on the replica before and after a request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from http.cookies import SimpleCookie

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from kernel.models import ApiKey
from tests import replica_cluster, replica_mode
from tests.conftest import example
from tests.servers import gunicorn, shared_database_url, wait_for
from tests.services import IN_CI

pytestmark = [
    # The suite's test database is the one loaded into the primary (the mark makes pytest-django create it).
    pytest.mark.django_db,
    pytest.mark.postgres,
    # In CI the server programs must be there (the test fails rather than skip); elsewhere their absence skips.
    pytest.mark.skipif(
        not replica_cluster.available() and not IN_CI, reason="PostgreSQL 15's server programs are not installed"
    ),
]

DATABASE = "registry"
MAX_LAG = 2.5
CHECK = 1.0
# Statements that read the registry's tables: every document, list, search, route, lineage, change-log read runs
# some. (The rotation's checks and these counts read only pg_ functions and views.)
READS = (
    "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements"
    r" WHERE query ~* '^\s*(select|with)\M' AND query !~* 'insert into' AND query NOT LIKE '%%pg\_%%'"
)


class Cluster:
    def __init__(self, primary, replica, base: str, key: str):
        self.primary, self.replica, self.base, self.key = primary, replica, base, key

    def request(self, method: str, path: str, body=None, headers: dict | None = None):
        """(status, headers, parsed body) of one request to the server."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Api-Key {self.key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                raw = response.read()
                return response.status, response.headers, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, error.headers, json.loads(raw) if raw else None

    def reads(self) -> tuple[int, int]:
        """(primary, replica): statements that read the registry's tables so far, on each server."""
        return (
            int(self.primary.query(DATABASE, READS)[0][0]),
            int(self.replica.query(DATABASE, READS)[0][0]),
        )

    def inserts(self) -> tuple[int, int]:
        """(primary, replica): INSERT statements run so far, on each server (nested ones included)."""
        sql = "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query ILIKE '%%insert into%%'"
        return int(self.primary.query(DATABASE, sql)[0][0]), int(self.replica.query(DATABASE, sql)[0][0])

    def served_by(self, method: str, path: str, **kwargs):
        """(which server read the registry's tables for it, the response): "primary", "replica" or "neither"."""
        before = self.reads()
        answer = self.request(method, path, **kwargs)
        after = self.reads()
        primary, replica = after[0] - before[0], after[1] - before[1]
        assert not (primary and replica), f"{path} read from both servers"
        return ("primary" if primary else "replica" if replica else "neither"), answer

    def caught_up(self) -> None:
        """The replica has replayed every write so far, and the server knows it (the replica is in rotation)."""
        replica_cluster.wait_for_replay(self.primary, self.replica, DATABASE)
        assert wait_for(lambda: _in_rotation(self), MAX_LAG * 3)

    def health(self) -> dict:
        with urllib.request.urlopen(self.base + "/health", timeout=20) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker):
    """A primary loaded with the suite's migrated database, its streaming replica, and one gunicorn worker that
    reads from the replica (lag bound 2.5 s, checked every second)."""
    with replica_cluster.primary_and_replica() as (primary, replica, _):
        primary.query("postgres", f"CREATE DATABASE {DATABASE}")
        with django_db_blocker.unblock():
            # A user and key issued in the suite's database for the dump to carry, then removed from it again.
            user = get_user_model().objects.create_user(username="replica-tests")
            user.user_permissions.set(
                Permission.objects.exclude(content_type__app_label__in=("auth", "admin", "contenttypes", "sessions"))
            )
            _, key = ApiKey.objects.issue(user)
            try:
                dump = subprocess.run(
                    ["pg_dump", "--no-owner", "--no-privileges", shared_database_url()],
                    capture_output=True,
                    check=True,
                    timeout=60,
                )
            finally:
                user.delete()
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", primary.url(DATABASE)],
            input=dump.stdout,
            capture_output=True,
            check=True,
            timeout=60,
        )
        primary.query(DATABASE, "CREATE EXTENSION pg_stat_statements")
        replica_cluster.make_replica(primary, replica)
        replica_cluster.wait_for_replay(primary, replica, DATABASE)
        with gunicorn(
            env={
                "DATABASE_URL": primary.url(DATABASE),
                "DATABASE_REPLICA_URLS": replica.url(DATABASE),
                "DATABASE_REPLICA_MAX_LAG_SECONDS": str(MAX_LAG),
                "DATABASE_REPLICA_CHECK_SECONDS": str(CHECK),
            },
            options=("--threads", "4", "--graceful-timeout", "1"),
        ) as base:
            cluster = Cluster(primary, replica, base, key)
            status, _, _ = cluster.request("POST", "/api/v1/models", _model("replica-model", "1.0.0"))
            assert status == 201
            cluster.caught_up()
            yield cluster


def _model(name: str, version: str, **fields) -> dict:
    return {**example("models_app", "llama2-7b-chat"), "name": name, "version": version, **fields}


@pytest.fixture
def replay_paused(cluster):
    """The replica receives the primary's WAL but applies none of it until the test ends (or resumes it)."""
    cluster.replica.query(DATABASE, "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        cluster.replica.query(DATABASE, "SELECT pg_wal_replay_resume()")
        cluster.caught_up()


def _in_rotation(cluster) -> bool:
    return cluster.health()["checks"]["replicas"]["status"] == "ok"


def test_reads_are_served_by_the_replica_and_writes_by_the_primary(cluster):
    inserts_before = cluster.inserts()
    status, headers, _ = cluster.request(
        "POST", "/api/v1/models/replica-model/versions", _model("replica-model", "1.1.0")
    )
    assert status == 201
    # The write carries its commit's position back.
    token = headers["X-Consistency-Token"]
    assert cluster.primary.query(DATABASE, "SELECT %s::pg_lsn <= pg_current_wal_insert_lsn()", (token,))[0][0]
    cluster.caught_up()
    reads = [
        "/api/v1/models/replica-model",
        "/api/v1/models/replica-model?version=1.0.0",
        "/api/v1/models",
        "/api/v1/models?search=replica",
        "/api/v1/models/replica-model/versions",
        "/api/v1/versions?status=active",
        "/api/v1/models/replica-model/versions/1.1.0/lineage",
    ]
    for path in reads:
        server, (status, _, _) = cluster.served_by("GET", path)
        assert (status, server) == (200, "replica"), path
    # The route reads the version and its bindings (it has none, so a 404 that says so), from the replica.
    server, (status, _, body) = cluster.served_by("GET", "/api/v1/route?model=replica-model")
    assert (status, server) == (404, "replica"), body
    # The change log and the statistics read other tables; they answer from the replica too.
    status, _, changes = cluster.request("GET", "/api/v1/changes?name=replica-model")
    assert status == 200 and {entry["version"] for entry in changes["results"]} >= {"1.0.0", "1.1.0"}
    assert cluster.request("GET", "/api/v1/stats")[0] == 200
    primary, replica = (after - before for after, before in zip(cluster.inserts(), inserts_before))
    assert primary > 0 and replica == 0  # the version, its change-log entry, ... were written on the primary


def test_the_writers_next_read_is_fresh_while_the_replica_lags(cluster, replay_paused):
    status, headers, _ = cluster.request("PATCH", "/api/v1/models/replica-model", {"description": "written now"})
    assert status == 200
    token = headers["X-Consistency-Token"]
    # The writer sends its token back: the paused replica has not replayed it, so the primary answers.
    server, (status, _, document) = cluster.served_by(
        "GET", "/api/v1/models/replica-model", headers={"X-Consistency-Token": token}
    )
    assert (status, server, document["description"]) == (200, "primary", "written now")
    # A reader without a token, within the lag bound, sees the replica's data: the write is not there yet.
    server, (status, _, document) = cluster.served_by("GET", "/api/v1/models/replica-model")
    assert (status, server) == (200, "replica")
    assert document["description"] != "written now"
    # A token that is not one cannot be shown replayed: the primary answers.
    server, (_, _, document) = cluster.served_by(
        "GET", "/api/v1/models/replica-model", headers={"X-Consistency-Token": "not-a-token"}
    )
    assert (server, document["description"]) == ("primary", "written now")


def test_a_browser_reads_its_writes_through_the_cookie(cluster, replay_paused):
    status, headers, _ = cluster.request(
        "PATCH", "/api/v1/models/replica-model", {"description": "from a browser"}, headers={"Cookie": "csrftoken=x"}
    )
    assert status == 200
    cookie = SimpleCookie(headers["Set-Cookie"])["registry_consistency"]
    assert cookie.value == headers["X-Consistency-Token"] and cookie["httponly"]
    server, (_, _, document) = cluster.served_by(
        "GET", "/api/v1/models/replica-model", headers={"Cookie": cookie.OutputString(attrs=[])}
    )
    assert (server, document["description"]) == ("primary", "from a browser")


def test_a_replica_lagging_past_the_bound_leaves_rotation_and_returns_when_caught_up(cluster, replay_paused):
    assert cluster.request("PATCH", "/api/v1/models/replica-model", {"description": "lagging"})[0] == 200
    # Past the bound, no reader sees older data: the replica is out, the primary answers.
    assert wait_for(lambda: not _in_rotation(cluster), MAX_LAG * 3)
    server, (_, _, document) = cluster.served_by("GET", "/api/v1/models/replica-model")
    assert (server, document["description"]) == ("primary", "lagging")
    assert cluster.health()["status"] == "degraded"
    cluster.replica.query(DATABASE, "SELECT pg_wal_replay_resume()")
    cluster.caught_up()
    server, (_, _, document) = cluster.served_by("GET", "/api/v1/models/replica-model")
    assert (server, document["description"]) == ("replica", "lagging")


def test_a_stopped_replica_leaves_rotation_and_returns_when_restarted(cluster):
    # Checked just now: the server holds it in rotation until its next check, a second away, and meets it gone.
    assert _in_rotation(cluster)
    cluster.replica.stop("immediate")
    try:
        # The read that finds it gone is answered from the primary, not with an error.
        for _ in range(3):
            status, _, document = cluster.request("GET", "/api/v1/models/replica-model")
            assert status == 200 and document["name"] == "replica-model"
        assert not _in_rotation(cluster)
        assert cluster.request("PATCH", "/api/v1/models/replica-model", {"description": "while it was down"})[0] == 200
    finally:
        cluster.replica.start()
    cluster.caught_up()
    server, (_, _, document) = cluster.served_by("GET", "/api/v1/models/replica-model")
    assert (server, document["description"]) == ("replica", "while it was down")


def test_conditional_reads_and_if_match_writes_hold_across_primary_and_replica(cluster, replay_paused):
    status, headers, _ = cluster.request("GET", "/api/v1/models/replica-model")
    etag = headers["ETag"]
    assert cluster.request("GET", "/api/v1/models/replica-model", headers={"If-None-Match": etag})[0] == 304
    assert cluster.request("PUT", "/api/v1/models/replica-model/aliases/champion", {"version": "1.0.0"})[0] == 200
    status, headers, _ = cluster.request(
        "PUT", "/api/v1/models/replica-model/aliases/champion", {"version": "1.1.0"}, headers={"If-Match": '"1.0.0"'}
    )
    assert status == 200
    token = headers["X-Consistency-Token"]
    # The paused replica still has no alias; the write's If-Match is checked on the primary all the same.
    assert cluster.request("GET", "/api/v1/models/replica-model/aliases/champion")[0] == 404
    status, _, body = cluster.request(
        "PUT", "/api/v1/models/replica-model/aliases/champion", {"version": "1.0.0"}, headers={"If-Match": '"1.0.0"'}
    )
    assert status == 412, body
    # With the write's token, the alias is read where it has moved.
    status, headers, body = cluster.request(
        "GET", "/api/v1/models/replica-model/aliases/champion", headers={"X-Consistency-Token": token}
    )
    assert (status, body["version"]) == (200, "1.1.0")


def _fill(path: str, world: dict) -> str:
    """A concrete path for a schema path: each parameter filled with an object the tour made."""
    kind = path.split("/")[3]
    values = {
        "name": world["names"].get(kind, "replica-model"),
        "version": "1.0.0",
        "alias": "prod",
        "filename": "w.bin",
        "id": world["ids"].get(kind, world["ids"]["bindings"]),
        "delivery": "1",
        "address": "someone@example.com",
    }
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", str(value))
    return path


QUERIES = {
    "/api/v1/route": "?model=replica-model&environment=production",
    "/api/v1/models/replica-model/diff": "?from=1.0.0&to=1.1.0",
    "/api/2.0/mlflow/registered-models/get": "?name=replica-model",
    "/api/2.0/mlflow/model-versions/get": "?name=replica-model&version=1",
}


def test_every_read_of_the_api_is_answered_by_the_replica(cluster):
    """Every GET operation of the published schema, on objects of every kind, answered from the hot standby
    (no statement on it fails, so no read falls back to the primary) without an error."""
    world = {"names": {}, "ids": {}}
    assert cluster.request("POST", "/api/v1/models", example("models_app", "llama2-7b-chat"))[0] in (201, 409)
    for kind, app, example_name in (
        ("pipelines", "pipelines_app", "text-generation-pipeline"),
        ("policies", "policies_app", "user-rate-limits"),
    ):
        status, _, document = cluster.request("POST", f"/api/v1/{kind}", example(app, example_name))
        assert status in (201, 409), document
        world["names"][kind] = example(app, example_name)["name"]
        assert (
            cluster.request("PUT", f"/api/v1/{kind}/{world['names'][kind]}/aliases/prod", {"version": "1.0.0"})[0]
            == 200
        )
    assert cluster.request("POST", "/api/v1/models/replica-model/versions/1.0.0/activate")[0] == 200
    assert cluster.request("PUT", "/api/v1/models/replica-model/aliases/prod", {"version": "1.1.0"})[0] == 200
    status, _, binding = cluster.request(
        "POST",
        "/api/v1/bindings",
        {
            "model": "replica-model",
            "version": "1.0.0",
            "provider": "openai",
            "provider_model_id": "gpt-4o-mini",
            "endpoint_url": "https://api.openai.com/v1",
            "region": "eu-west-1",
            "environment": "production",
            "cost_per_1k_input_tokens": 0.5,
            "cost_per_1k_output_tokens": 1.5,
            "slo_latency_p95_ms": 1500,
            "slo_success_rate": 0.99,
        },
    )
    assert status == 201, binding
    _, _, versions = cluster.request("GET", "/api/v1/models/replica-model/versions")
    world["ids"] = {"bindings": binding["id"], "versions": versions["results"][0]["id"], "webhooks": "1"}
    with urllib.request.urlopen(cluster.base + "/api/schema/?format=json", timeout=20) as response:
        schema = json.loads(response.read())
    cluster.caught_up()
    answered = []
    for path, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        concrete = _fill(path, world)
        concrete += QUERIES.get(concrete, "")
        server, (status, _, body) = cluster.served_by("GET", concrete)
        assert status < 500, (concrete, body)
        assert server != "primary", concrete
        answered.append((concrete, status, server))
    assert len(answered) >= 40
    assert sum(server == "replica" for _, _, server in answered) >= 35, answered
    assert sum(status == 200 for _, status, _ in answered) >= 30, answered
    assert _in_rotation(cluster)  # nothing that failed on the replica was quietly answered again by the primary


@pytest.mark.skipif(replica_mode.active(), reason="make test-replica configures a replica")
def test_without_replicas_nothing_is_installed(settings):
    """No DATABASE_REPLICA_URLS (this suite's own settings): no router, no middleware, no replica alias; every query
    runs on the primary as before, and a write's answer carries no token."""
    assert settings.DATABASE_REPLICA_URLS == []
    assert settings.DATABASE_ROUTERS == []
    assert not any("replicas" in middleware for middleware in settings.MIDDLEWARE)
    assert list(settings.DATABASES) == ["default"]


def test_a_replica_connection_gives_up_on_a_silent_host_unless_its_url_says_otherwise():
    """connect_timeout, TCP keepalives and tcp_user_timeout on every replica alias (docs/production.md: a host that
    stops answering mid-read fails the read in about 10 s); a value the URL sets is kept. Settings read in a fresh
    process configured by the environment only, as in production."""
    script = (
        "import json; from django.conf import settings\n"
        "print(json.dumps([settings.DATABASES[a]['OPTIONS'] for a in ('replica_1', 'replica_2')]))\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "REGISTRY_TEST_REPLICA_URLS"},
        "DJANGO_SETTINGS_MODULE": "registry_project.settings",
        "DATABASE_URL": "postgresql://registry@127.0.0.1:5432/registry",
        "DATABASE_REPLICA_URLS": "postgresql://registry@127.0.0.1:5433/registry,"
        "postgresql://registry@127.0.0.1:5434/registry?keepalives_idle=30&connect_timeout=7",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first, second = json.loads(done.stdout)
    assert first == {
        "connect_timeout": 2,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
        "tcp_user_timeout": 10000,
    }
    assert (int(second["keepalives_idle"]), int(second["connect_timeout"])) == (30, 7)
    assert second["tcp_user_timeout"] == 10000
