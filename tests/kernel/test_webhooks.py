"""Webhooks from the change log's outbox: a real receiving HTTP server in the test process, real signatures,
retries with backoff, dead letters and redelivery; and, with a real broker that is stopped and started and a
real Celery worker, 100 changes made while the broker is down all arrive, in order per object."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from kernel.models.changelog import ChangeLogEntry
from kernel.models.webhooks import DeliveryStatus, OutboxItem, WebhookDelivery, deliver_due, relay_outbox
from kernel.reads.lookups import lookup
from kernel.writes.lifecycle import activate
from kernel.writes.register import register
from kernel.writes.update import update_document
from models_app.models import Model
from tests.servers import free_port, start_redis, wait_for

ROOT = Path(__file__).resolve().parents[2]


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """What a receiver does (the snippet in docs/api/changes-aliases-webhooks.md): HMAC-SHA256 over id.timestamp.body with the secret's bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s.split(",", 1)[1]) for s in headers["webhook-signature"].split())


class Receiver:
    """An HTTP server on a free port that records every POST and answers ``status``."""

    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture(autouse=True)
def loopback_receivers_allowed(settings, monkeypatch):
    """The receivers here listen on loopback, which the registry refuses unless the operator allows it; the
    names these tests subscribe to stand for a loopback receiver (no DNS query is sent)."""
    from kernel import egress

    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1", "::1"]
    resolve = egress.getaddrinfo

    def names_are_loopback(host, port, *args, **kwargs):
        return resolve("127.0.0.1" if host in ("a", "x.test", "example.com") else host, port, *args, **kwargs)

    monkeypatch.setattr(egress, "getaddrinfo", names_are_loopback)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()


@pytest.fixture
def staff_api(api, user):
    user.is_staff = True
    user.save()
    return api


def subscribe(staff_api, url: str, events=("model.*",)) -> dict:
    response = staff_api.post("/api/v1/webhooks", {"url": url, "events": list(events)}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.django_db
def test_changes_are_delivered_signed_and_in_order(staff_api, receiver, model_doc):
    subscription = subscribe(staff_api, receiver.url)
    register(Model, model_doc(version="1.0.0"))
    activate(lookup(Model, "llama2-7b-chat", "1.0.0"))

    relay_outbox()
    deliver_due()

    assert [e["type"] for e in receiver.events()] == ["model.version_registered", "model.version_activated"]
    assert all(verify(subscription["secret"], headers, body) for headers, body in receiver.received)
    assert not OutboxItem.objects.exists()
    assert not verify("whsec_" + base64.b64encode(b"another secret of 24 byte").decode(), *receiver.received[0])


@pytest.mark.django_db
def test_only_http_targets_and_staff(staff_api):
    from tests.conftest import _client_for

    outsider = _client_for(get_user_model().objects.create_user("outsider", password="unused-password-123"))
    assert outsider.get("/api/v1/webhooks").status_code == 403
    response = staff_api.post("/api/v1/webhooks", {"url": "file:///etc/passwd", "events": ["*"]}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "/url"
    response = staff_api.post("/api/v1/webhooks", {"url": "http://x.test/", "events": ["Bad Pattern!"]}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["path"].startswith("/events")


URLS_ALLOWED = [
    "http://a",
    "HTTPS://Example.COM:8443/hook?x=1#f",
    "http://127.0.0.1:1/",
    "http://[::1]:8080/p",
    "https://x.test/a%20b/~!$&'()*+,;=:@",
]
URLS_REFUSED = [
    "file:///etc/passwd",
    "ftp://x.test/",
    "http://",
    "http:///path",
    "http://exa mple.test/",
    "http://x.test/\n",
    "http://-x.test/",
    "javascript:alert(1)",
    "http://x.test/ä",
    " http://x.test/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", URLS_ALLOWED + URLS_REFUSED)
def test_the_url_pattern_is_the_one_the_schema_publishes(staff_api, url):
    """Create and PATCH accept a URL exactly when the OpenAPI schema's `pattern` matches it (one URL_PATTERN)."""
    from kernel.api.webhooks import URL_SCHEMA

    published = re.search(URL_SCHEMA["pattern"], url) is not None
    assert published == (url in URLS_ALLOWED)
    response = staff_api.post("/api/v1/webhooks", {"url": url, "events": ["*"]}, format="json")
    assert response.status_code == (201 if published else 400), response.json()
    if not published:
        assert response.json()["errors"][0]["path"] == "/url"
    subscription = subscribe(staff_api, "http://x.test/")
    response = staff_api.patch(f"/api/v1/webhooks/{subscription['id']}", {"url": url}, format="json")
    assert response.status_code == (200 if published else 400), response.json()


@pytest.mark.django_db
def test_the_webhook_answers_match_their_schemas(staff_api):
    """Create, list, PATCH, rotate-secret, test and deliveries answer with exactly the documented fields."""
    import jsonschema

    from kernel.api import webhooks as api

    created = subscribe(staff_api, "http://x.test/")
    jsonschema.validate(created, api.SUBSCRIPTION_CREATED_SCHEMA)
    jsonschema.validate(staff_api.get(f"/api/v1/webhooks/{created['id']}").json(), api.SUBSCRIPTION_SCHEMA)
    assert staff_api.patch(f"/api/v1/webhooks/{created['id']}", {"zzz": 1}, format="json").status_code == 400
    for wrong_type in ({"description": 0}, {"active": "yes"}, {"active": 1}, {"events": [5]}, {"url": 0}):
        assert staff_api.patch(f"/api/v1/webhooks/{created['id']}", wrong_type, format="json").status_code == 400, (
            wrong_type
        )
    # A secret sent back is ignored, but it is a string as documented (an integer past 2^53 in it would be a 400).
    assert (
        staff_api.patch(f"/api/v1/webhooks/{created['id']}", {"secret": "whsec_old"}, format="json").status_code == 200
    )
    assert staff_api.patch(f"/api/v1/webhooks/{created['id']}", {"secret": [1]}, format="json").status_code == 400
    rotated = staff_api.post(f"/api/v1/webhooks/{created['id']}/rotate-secret").json()
    assert set(rotated) == {"id", "secret"} and re.search(api.SECRET_SCHEMA["pattern"], rotated["secret"])
    assert set(staff_api.post(f"/api/v1/webhooks/{created['id']}/test").json()) == {"delivery"}
    deliveries = staff_api.get(f"/api/v1/webhooks/{created['id']}/deliveries").json()
    assert len(deliveries["results"]) == 1
    jsonschema.validate(deliveries["results"][0], api.DELIVERY_SCHEMA)


@pytest.mark.django_db
def test_failures_back_off_then_dead_letter_then_redeliver(staff_api, receiver, model_doc, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    subscription = subscribe(staff_api, receiver.url)
    receiver.status = 500
    register(Model, model_doc())
    relay_outbox()

    attempts = []
    for _ in range(3):
        deliver_due()
        delivery = WebhookDelivery.objects.get()
        waits = delivery.next_attempt_at > timezone.now() if delivery.status == "pending" else None
        attempts.append((delivery.attempts, delivery.status, waits))
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())  # skip the backoff wait
    assert attempts == [(1, "pending", True), (2, "pending", True), (3, "dead", None)]
    log = staff_api.get(f"/api/v1/webhooks/{subscription['id']}/deliveries").json()["results"][0]
    assert [a["status_code"] for a in log["attempts"]] == [500, 500, 500] and log["status"] == "dead"

    receiver.status = 204
    assert staff_api.post(f"/api/v1/webhooks/{subscription['id']}/deliveries/{log['id']}/redeliver").status_code == 202
    deliver_due()
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED
    assert len(receiver.received) == 4


@pytest.mark.django_db
def test_a_test_event_and_a_rotated_secret(staff_api, receiver):
    subscription = subscribe(staff_api, receiver.url)
    new = staff_api.post(f"/api/v1/webhooks/{subscription['id']}/rotate-secret").json()["secret"]
    assert staff_api.post(f"/api/v1/webhooks/{subscription['id']}/test").status_code == 202
    assert receiver.received == []  # never sent inside the request

    deliver_due()

    headers, body = receiver.received[0]
    assert json.loads(body)["type"] == "webhook.test"
    assert verify(new, headers, body) and verify(subscription["secret"], headers, body)  # both during rotation


# -- the outbox with a real broker that is down, then back ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_changes_made_while_the_broker_is_down_are_all_delivered_in_order(staff_api, receiver, model_doc, tmp_path):
    port = free_port()
    broker = start_redis(port)
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "CELERY_RESULT_BACKEND": "",
        "WEBHOOK_RELAY_INTERVAL_SECONDS": "1",
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",  # the receiver is on loopback
        "SECRET_KEY": "test-worker",
        "DEBUG": "false",
    }
    env.pop("REDIS_URL", None)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "registry_project",
            "worker",
            "-B",
            "--pool=solo",
            "--queues=celery,webhooks",
            "--loglevel=WARNING",
            "-s",
            str(tmp_path / "beat-schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=open(tmp_path / "worker.log", "w"),
        stderr=subprocess.STDOUT,
    )
    try:
        subscription = subscribe(staff_api, receiver.url)
        broker.send_signal(signal.SIGKILL)
        broker.wait()

        for index in range(10):  # 100 changes: 10 registrations and 90 updates
            register(Model, model_doc(name=f"m{index}"))
        for round_ in range(9):
            for index in range(10):
                update_document(lookup(Model, f"m{index}", "1.0.0"), {"description": f"round {round_}"})
        expected = list(ChangeLogEntry.objects.filter(kind="model").values_list("id", "name"))
        assert len(expected) == 100

        broker = start_redis(port)
        arrived = wait_for(lambda: len({e["data"]["id"] for e in receiver.events()}) >= 100, 180)
        assert arrived, (tmp_path / "worker.log").read_text()[-3000:]

        events = receiver.events()
        assert {e["data"]["id"] for e in events} == {entry_id for entry_id, _ in expected}  # none lost
        for name in {name for _, name in expected}:
            ids = [e["data"]["id"] for e in events if e["data"]["name"] == name]
            assert ids == sorted(ids), f"{name} out of order"  # in order per object
        assert all(verify(subscription["secret"], headers, body) for headers, body in receiver.received)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        broker.terminate()
        broker.wait()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "events, active",
    [
        (["*"], True),
        (["*"], False),
        (["model.*"], True),
        (["model.version_registered"], True),
        (["mod*"], True),
        (["pipeline.*"], True),
        (["model.*.x"], True),
        (["model"], True),
        (["pipeline.x", "model.version_*"], True),
        ([], True),
    ],
)
def test_an_entry_reaches_the_outbox_exactly_when_an_active_subscriptions_pattern_matches_it(events, active):
    # On PostgreSQL the match is SQL in the change log's own INSERT; it must agree with event_matches, which the
    # relay fans out with.
    from kernel.models import changelog
    from kernel.models.webhooks import WebhookSubscription, delivered, event_matches

    WebhookSubscription.objects.create(url="https://hooks.example.com/p", events=events, active=active)
    actions = ["model.version_registered", "model.version_activated", "pipeline.registered", "model", "webhook.created"]
    changelog.record_many([changelog.Change(action, kind=action.split(".")[0], name="x") for action in actions])
    queued = set(OutboxItem.objects.values_list("entry__action", flat=True))
    assert queued == {action for action in actions if active and delivered(action) and event_matches(events, action)}
    assert "webhook.created" not in queued  # a subscription's own entries are never events
    assert all(entry.pk for entry in ChangeLogEntry.objects.all())


@pytest.mark.django_db
def test_the_deliver_webhooks_command_sends_a_test_event_without_celery(staff_api, receiver):
    """make run has no broker and no beat: its deliver_webhooks process is what sends (issue #27)."""
    from io import StringIO

    from django.core.management import call_command

    subscription = subscribe(staff_api, receiver.url)
    staff_api.post(f"/api/v1/webhooks/{subscription['id']}/test")
    out = StringIO()

    call_command("deliver_webhooks", stdout=out)

    assert [e["type"] for e in receiver.events()] == ["webhook.test"]
    deliveries = staff_api.get(f"/api/v1/webhooks/{subscription['id']}/deliveries").json()["results"]
    assert [d["status"] for d in deliveries] == ["delivered"]
    assert "1 delivery attempt(s)" in out.getvalue()
