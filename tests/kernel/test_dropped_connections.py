"""Backends terminated under a write load (``pg_terminate_backend``, this test database's client backends only)
against a real gunicorn over PostgreSQL: no answer is a 500 (only 2xx, or 503 with Retry-After in the error
shape), reads are answered, and with clients retrying with their Idempotency-Key the counted reports equal the
acknowledged ones exactly and every acknowledged registration is there once."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter

import psycopg
import pytest
from django.core.signals import request_started
from django.db import connection

from bindings_app.models import ProviderBinding
from kernel.models import ApiKey
from kernel.writes.lifecycle import activate
from kernel.writes.register import register
from models_app.models import Model, ModelVersion
from tests.servers import gunicorn, shared_database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LOAD_SECONDS = 4
KILL_EVERY_SECONDS = 0.25
MAX_ATTEMPTS = 40
BATCH = 5


def call(base: str, key: str, method: str, path: str, body=None, *, idempotency_key: str | None = None):
    """(status, headers, parsed body); a dropped TCP connection is status 0."""
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            text = error.read()
        return error.code, dict(error.headers), json.loads(text) if text.startswith(b"{") else text
    except (ConnectionError, TimeoutError, urllib.error.URLError):
        return 0, {}, None


class Load:
    def __init__(self, base: str, key: str):
        self.base, self.key = base, key
        self.answers: list[tuple[str, int, dict, object]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.acknowledged_reports = 0
        self.acknowledged_versions: list[str] = []
        self.failures: list[str] = []

    def record(self, what: str, status: int, headers: dict, body) -> None:
        with self.lock:
            self.answers.append((what, status, headers, body))

    def until_acknowledged(self, what: str, method: str, path: str, body, idempotency_key: str):
        """Send until a 2xx, with the same key each time (a client that must not count twice)."""
        for _ in range(MAX_ATTEMPTS):
            status, headers, answer = call(self.base, self.key, method, path, body, idempotency_key=idempotency_key)
            self.record(what, status, headers, answer)
            if 200 <= status < 300:
                return answer
            if status not in (0, 503):
                return None  # any other answer is a failure the assertions name
            time.sleep(0.02)
        self.failures.append(f"{what} never acknowledged in {MAX_ATTEMPTS} attempts")
        return None

    def reporter(self, binding_id: int) -> None:
        while not self.stop.is_set():
            batch = [{"success": True, "latency_ms": 50, "input_tokens": 1, "output_tokens": 1}] * BATCH
            answer = self.until_acknowledged(
                "report", "POST", f"/api/v1/bindings/{binding_id}/report", batch, uuid.uuid4().hex
            )
            if answer is not None:
                with self.lock:
                    self.acknowledged_reports += answer["accepted"]

    def registrar(self, document: dict, first: int) -> None:
        number = first
        while not self.stop.is_set():
            number += 1
            version = f"2.{number}.0"
            answer = self.until_acknowledged(
                "register",
                "POST",
                f"/api/v1/models/{document['name']}/versions",
                {**document, "version": version},
                uuid.uuid4().hex,
            )
            if answer is not None:
                with self.lock:
                    self.acknowledged_versions.append(answer["version"])

    def reader(self, name: str) -> None:
        while not self.stop.is_set():
            self.record("read", *call(self.base, self.key, "GET", f"/api/v1/models/{name}"))


def kill_backends(stop: threading.Event, killed: list[int]) -> None:
    """Terminate every other client backend of the test database, every KILL_EVERY_SECONDS."""
    with psycopg.connect(shared_database_url(), autocommit=True, connect_timeout=5) as killer:
        while not stop.is_set():
            rows = killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            ).fetchall()
            killed.append(sum(1 for (done,) in rows if done))
            time.sleep(KILL_EVERY_SECONDS)


def test_terminated_backends_give_no_500_and_retried_writes_count_once(user, model_doc):
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    key, binding = deployed_binding(user, model_doc)
    document = model_doc()
    connection.close()  # the test's own connection would be terminated too

    with gunicorn(workers=3) as base:
        load = Load(base, key)
        threads = [threading.Thread(target=load.reporter, args=(binding.pk,)) for _ in range(3)]
        threads += [threading.Thread(target=load.registrar, args=(document, 1000 * i)) for i in range(2)]
        threads.append(threading.Thread(target=load.reader, args=(document["name"],)))
        stop_killing, killed = threading.Event(), []
        killer = threading.Thread(target=kill_backends, args=(stop_killing, killed))
        for thread in [*threads, killer]:
            thread.start()
        time.sleep(LOAD_SECONDS)
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        stop_killing.set()
        killer.join(timeout=10)
        assert not any(thread.is_alive() for thread in [*threads, killer])

    statuses = Counter((what, status) for what, status, _, _ in load.answers)
    print(f"answers: {dict(statuses)}; backends terminated: {sum(killed)}")
    assert sum(killed) > 0
    assert not load.failures
    assert {status for _, status, _, _ in load.answers} <= {0, 200, 201, 503}, statuses
    for _, status, headers, body in load.answers:
        if status == 503:
            assert int(headers["Retry-After"]) >= 1
            assert body["type"] == "server_error" and body["errors"][0]["code"] == "database_unavailable"
    assert statuses[("report", 200)] > 0 and statuses[("register", 201)] > 0 and statuses[("read", 200)] > 0

    binding.refresh_from_db()
    assert binding.request_count == load.acknowledged_reports
    registered = ModelVersion.objects.filter(model__name=document["name"], version__startswith="2.")
    assert sorted(registered.values_list("version", flat=True)) == sorted(load.acknowledged_versions)


@pytest.fixture
def connection_killed_at_each_request():
    """Terminates the request's own backend once the request has started, after Django's check at the start of a
    request found it usable: the view's first query meets a dead connection, as when the server ends a session
    mid-request. Yields the pids it terminated."""
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    killed = []

    def kill(**kwargs):
        connection.ensure_connection()
        pid = connection.connection.info.backend_pid
        with psycopg.connect(shared_database_url(), autocommit=True, connect_timeout=5) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        poller = select.poll()
        poller.register(connection.connection.pgconn.socket, select.POLLIN)
        assert poller.poll(5000), "the server did not close the session"
        killed.append(pid)

    request_started.connect(kill, dispatch_uid="kill-at-request-start")
    yield killed
    request_started.disconnect(dispatch_uid="kill-at-request-start")


def test_a_read_that_meets_a_dead_connection_is_answered_on_a_fresh_one(
    api, model_doc, connection_killed_at_each_request
):
    register(Model, model_doc())

    response = api.get("/api/v1/models/llama2-7b-chat")

    assert response.status_code == 200 and response.json()["version"] == "1.0.0"
    assert len(connection_killed_at_each_request) == 1
    assert connection.connection.info.backend_pid != connection_killed_at_each_request[0]


def test_a_write_that_meets_a_dead_connection_is_a_503_with_retry_after_and_writes_nothing(
    api, model_doc, connection_killed_at_each_request
):
    response = api.post("/api/v1/models", model_doc(), format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response.json()["type"] == "server_error"
    assert response.json()["errors"][0]["code"] == "database_unavailable"
    assert len(connection_killed_at_each_request) == 1
    request_started.disconnect(dispatch_uid="kill-at-request-start")
    assert not ModelVersion.objects.exists()
    retried = api.post("/api/v1/models", model_doc(), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert retried.status_code == 201 and not retried.has_header("Idempotent-Replayed")


def deployed_binding(user, model_doc) -> tuple[str, ProviderBinding]:
    _, key = ApiKey.objects.issue(user)
    llama = activate(register(Model, model_doc()).version)
    binding = ProviderBinding.deploy(
        llama,
        provider="openai",
        provider_model_id="gpt-4o",
        endpoint_url="https://api.example.com/v1",
        region="us-east-1",
        environment="production",
        cost_per_1k_input_tokens=1,
        cost_per_1k_output_tokens=1,
    )
    return key, binding


def send_and_hang_up(base: str, key: str, path: str, body, idempotency_key: str) -> None:
    """Send a whole request and close the connection without reading the answer: a client whose answer was lost
    (its timeout, a proxy, the network) and that cannot know whether the write happened."""
    data = json.dumps(body).encode()
    port = int(base.rsplit(":", 1)[1])
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Api-Key {key}\r\n"
        f"Content-Type: application/json\r\nIdempotency-Key: {idempotency_key}\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(head.encode() + data)


def test_a_write_whose_answer_was_lost_is_answered_not_done_again_on_its_retry(user, model_doc):
    if connection.vendor != "postgresql":
        pytest.skip("needs a server process over PostgreSQL")
    key, binding = deployed_binding(user, model_doc)
    path = f"/api/v1/bindings/{binding.pk}/report"
    batch = [{"success": True, "latency_ms": 50}] * BATCH

    with gunicorn(workers=1) as base:
        send_and_hang_up(base, key, path, batch, "lost-1")
        deadline = time.monotonic() + 10
        while ProviderBinding.objects.get(pk=binding.pk).request_count == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        status, headers, answer = call(base, key, "POST", path, batch, idempotency_key="lost-1")

    assert status == 200 and headers.get("Idempotent-Replayed") == "true"
    assert answer["accepted"] == BATCH and answer["binding"]["request_count"] == BATCH
    assert ProviderBinding.objects.get(pk=binding.pk).request_count == BATCH


def test_requests_sent_at_once_with_one_key_do_the_work_once(user, model_doc):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent server processes over PostgreSQL")
    key, binding = deployed_binding(user, model_doc)
    batch = [{"success": True, "latency_ms": 10 + i % 500, "input_tokens": 1, "output_tokens": 1} for i in range(1000)]
    answers, start = [], threading.Barrier(6)

    def send():
        start.wait(timeout=30)
        answers.append(call(base, key, "POST", f"/api/v1/bindings/{binding.pk}/report", batch, idempotency_key="once"))

    with gunicorn(workers=3) as base:
        threads = [threading.Thread(target=send) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert [status for status, _, _ in answers] == [200] * 6
    assert sum(1 for _, headers, _ in answers if headers.get("Idempotent-Replayed") == "true") == 5
    assert len({json.dumps(body, sort_keys=True) for _, _, body in answers}) == 1
    binding.refresh_from_db()
    assert binding.request_count == 1000


def test_a_page_outside_the_api_is_retried_too(client, django_user_model, connection_killed_at_each_request):
    # The admin is a plain Django view: its failure reaches DatabaseFailureMiddleware.process_exception, not DRF.
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "unused-password-123")
    client.force_login(admin)
    connection_killed_at_each_request.clear()

    response = client.get("/admin/")

    assert response.status_code == 200
    assert len(connection_killed_at_each_request) == 1
