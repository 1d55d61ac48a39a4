"""A slow or hostile receiver costs only its own subscription a bounded time: each attempt has one total deadline
(a receiver dripping a byte a second is cut at it), only a prefix of a response is read, a claim outlives the
attempt it covers (a healthy receiver never gets a webhook-id twice), a deactivated subscription stops retrying,
and deliveries run on their own queue, in one task per subscription, on a real worker. Every receiver here is a
real server on 127.0.0.1 (allowed through WEBHOOK_ALLOWED_HOSTS)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from kernel.models.webhooks import WebhookDelivery, WebhookSubscription, deliver_due, relay_outbox
from kernel.writes.register import register
from models_app.models import Model
from tests.servers import free_port, start_redis, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_TIMEOUT_SECONDS = 2


class RawServer:
    """A TCP server on 127.0.0.1 that reads a request's head and body, then runs ``answer(conn)``."""

    def __init__(self, answer):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.sent = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        with conn:
            conn.settimeout(30)
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, body = data.split(b"\r\n\r\n", 1)
                length = int(
                    next(
                        v
                        for k, v in (line.split(b":", 1) for line in head.split(b"\r\n")[1:])
                        if k.lower() == b"content-length"
                    )
                )
                while len(body) < length:
                    body += conn.recv(65536)
                self.answer(self, conn)
            except OSError:
                pass

    def close(self):
        self.sock.close()


def drip(server, conn):
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":  # one byte a second: 38 s in all
        conn.sendall(bytes([byte]))
        server.sent += 1
        time.sleep(1)


def huge(server, conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 300000000\r\n\r\n")
    chunk = b"\0" * 65536
    while server.sent < 300_000_000:
        conn.sendall(chunk)
        server.sent += len(chunk)


def subscribe(port: int) -> WebhookSubscription:
    return WebhookSubscription.objects.create(url=f"http://127.0.0.1:{port}/hook", events=["*"])


@pytest.mark.django_db
def test_a_receiver_that_drips_a_byte_a_second_is_cut_at_the_total_deadline():
    server = RawServer(drip)
    try:
        subscribe(server.port).send_test_event()
        started = time.monotonic()
        deliver_due()
        elapsed = time.monotonic() - started
    finally:
        server.close()
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_error == "timeout" and delivery.status == "pending"
    assert elapsed < 4, f"the attempt took {elapsed:.1f} s against a 2 s deadline"  # each byte does not restart it


@pytest.mark.django_db
def test_only_a_prefix_of_a_huge_response_is_read():
    server = RawServer(huge)
    try:
        subscribe(server.port).send_test_event()
        deliver_due()
        time.sleep(0.5)  # the server notices the hang-up
    finally:
        server.close()
    assert WebhookDelivery.objects.get().status == "delivered"
    assert server.sent < 32_000_000, f"{server.sent} bytes of a 300 MB answer were taken"


class Healthy:
    """An HTTP receiver answering 204 after ``delay`` seconds; records each request's webhook-id."""

    def __init__(self, delay: float = 0.0, on_request=None):
        self.ids: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                receiver.ids.append(self.headers["webhook-id"])
                if on_request:
                    on_request(self.headers["webhook-id"])
                time.sleep(delay)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.django_db
def test_a_deactivated_subscription_stops_retrying(api, user, settings):
    user.is_staff = True
    user.save()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    subscription = subscribe(port)
    subscription.send_test_event()
    deliver_due()
    assert WebhookDelivery.objects.get().attempts == 1
    assert api.patch(f"/api/v1/webhooks/{subscription.pk}", {"active": False}, format="json").status_code == 200
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())  # its retry is due

    assert deliver_due() == 0
    assert WebhookDelivery.objects.get().attempts == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_outlives_its_attempt_so_a_healthy_receiver_never_gets_a_webhook_id_twice(settings, model_doc):
    """Six deliveries to a receiver that takes 0.9 s each (healthy: under the 1 s deadline). While each is being
    received, its claim still holds and a second sender finds nothing to send."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    seen: list[tuple[str, bool, int]] = []

    def while_receiving(webhook_id: str) -> None:
        try:
            delivery = WebhookDelivery.objects.get(pk=webhook_id.removeprefix("msg_"))
            seen.append((webhook_id, delivery.next_attempt_at > timezone.now(), deliver_due()))
        finally:
            connection.close()

    receiver = Healthy(delay=0.9, on_request=while_receiving)
    try:
        subscribe(receiver.port)
        for index in range(6):
            register(Model, model_doc(name=f"m{index}"))
        relay_outbox()
        deliver_due()
    finally:
        receiver.close()
    assert len(receiver.ids) == 6 and len(set(receiver.ids)) == 6
    assert [(leased, sent_elsewhere) for _, leased, sent_elsewhere in seen] == [(True, 0)] * 6


def test_deliveries_have_their_own_queue_and_lifecycle_jobs_do_not_share_it():
    from registry_project.celery import app

    def queue(task: str) -> str:
        return app.amqp.router.route({}, task)["queue"].name

    assert queue("kernel.tasks.deliver_webhooks") == queue("kernel.tasks.deliver_webhook_lane") == "webhooks"
    assert {queue("kernel.tasks.refresh_stats"), queue("models_app.tasks.apply_retention")} == {"celery"}


# -- a real worker: a slow subscription delays only itself -----------------------------------------------------


def worker_env(broker_port: int, **extra: str) -> dict:
    """A worker's environment: this test's database, a private broker, one-second ticks, 3 s deadlines."""
    database = django_settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{broker_port}/0",
        "CELERY_RESULT_BACKEND": "",
        "WEBHOOK_RELAY_INTERVAL_SECONDS": "1",
        "WEBHOOK_TIMEOUT_SECONDS": "3",
        "WEBHOOK_BACKOFF_BASE_SECONDS": "1",
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": "test-worker",
        "DEBUG": "false",
        **extra,
    }
    env.pop("REDIS_URL", None)
    return env


def celery(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "registry_project", "worker", *args, "--loglevel=INFO"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_slow_receiver_delays_only_its_own_subscription_on_a_real_worker(model_doc, tmp_path):
    port = free_port()
    broker = start_redis(port)
    env = worker_env(port)
    slow = RawServer(drip)
    healthy = Healthy()
    # The webhooks worker as docs/operations.md runs it (threads), plus beat.
    worker = celery(
        ["-B", "--queues=webhooks", "--pool=threads", "--concurrency=4", "-s", str(tmp_path / "beat-schedule")],
        env,
        tmp_path / "worker.log",
    )
    try:
        slow_subscription = subscribe(slow.port)
        subscribe(healthy.port)
        started = time.monotonic()
        for index in range(5):
            register(Model, model_doc(name=f"m{index}"))
        arrived = wait_for(lambda: len(healthy.ids) >= 5, 30)
        took = time.monotonic() - started
        assert arrived, (tmp_path / "worker.log").read_text()[-3000:]
        # The slow lane is still stuck on its first event (5 x 3 s of deadlines if it were in the way).
        assert took < 12, f"the healthy receiver waited {took:.1f} s"
        time.sleep(3)  # several more beat ticks: nothing is sent twice
        assert len(healthy.ids) == len(set(healthy.ids)) == 5
        attempts = WebhookDelivery.objects.filter(subscription=slow_subscription).exclude(last_error="")
        assert set(attempts.values_list("last_error", flat=True)) == {"timeout"}
        assert WebhookDelivery.objects.filter(status="delivered").count() == 5
    finally:
        stop(worker, broker)
        slow.close()
        healthy.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_lifecycle_jobs_keep_their_schedule_while_every_webhook_slot_is_held(tmp_path):
    """Three subscriptions whose receivers drip (3 s per attempt, retried every second: 9 s of sending due every
    second) keep the one-slot webhooks worker busy all the time; the stats refresh, on the lifecycle worker and
    queue, still runs every second."""
    from kernel.models import StatsSnapshot

    port = free_port()
    broker = start_redis(port)
    env = worker_env(port, STATS_REFRESH_SECONDS="1", WEBHOOK_BACKOFF_CAP_SECONDS="1", WEBHOOK_MAX_ATTEMPTS="100")
    drips = [RawServer(drip) for _ in range(3)]
    for server in drips:
        subscribe(server.port).send_test_event()
    lifecycle = celery(["-B", "--pool=solo", "-s", str(tmp_path / "beat-schedule")], env, tmp_path / "lifecycle.log")
    webhooks = celery(["--queues=webhooks", "--pool=solo"], env, tmp_path / "webhooks.log")
    try:
        # Slots are held, and the retries have had time to pile up.
        held = wait_for(lambda: WebhookDelivery.objects.filter(attempts__gte=2).count() >= 3, 40)
        assert held, list(WebhookDelivery.objects.values_list("attempts", "last_error", "next_attempt_at", "status"))
        before = set(StatsSnapshot.objects.values_list("refreshed_at", flat=True))
        refreshes: set = set()
        watch_until = time.monotonic() + 8
        while time.monotonic() < watch_until:
            refreshes.update(set(StatsSnapshot.objects.values_list("refreshed_at", flat=True)) - before)
            time.sleep(0.1)
        times = sorted(refreshes)
        gaps = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:], strict=False)]
        # Scheduled every second: none waited behind a delivery (one would leave a gap of 3 s or more).
        assert len(times) >= 5 and max(gaps) < 2.5, (gaps, (tmp_path / "lifecycle.log").read_text()[-2000:])
        assert sum(server.sent for server in drips) > 0  # the receivers were being dripped to meanwhile
    finally:
        stop(lifecycle, webhooks, broker)
        for server in drips:
            server.close()


@pytest.mark.django_db
def test_a_name_whose_dns_answers_slowly_is_cut_at_the_total_deadline_too(monkeypatch):
    """The lookup is part of the attempt: a subscriber whose own name server answers slowly (or never) cannot stretch
    an attempt past its deadline (nor past the claim that covers it). No query is sent: DNS is stood in for."""
    from kernel import egress

    def slow_lookup(host, port, *args, **kwargs):
        time.sleep(5)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    subscription = subscribe(9)  # written as 127.0.0.1; the name is set past the API's own (instant) lookup
    WebhookSubscription.objects.filter(pk=subscription.pk).update(url="http://slow-dns.example.com:9/hook")
    subscription.send_test_event()
    monkeypatch.setattr(egress, "getaddrinfo", slow_lookup)
    started = time.monotonic()
    deliver_due()
    elapsed = time.monotonic() - started
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_error == "timeout" and delivery.status == "pending"
    assert elapsed < 4, f"the attempt took {elapsed:.1f} s against a 2 s deadline"
