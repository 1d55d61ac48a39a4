"""Webhooks never reach inside the network (kernel/egress.py): internal destinations are refused when a
subscription is written and again before every attempt, before any connection is made; the send connects to the
address that was checked (no second lookup); a subscriber learns a failure's class only. Every server here
listens on 127.0.0.1, and every refusal is asserted with connecting made to fail the test."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kernel import egress
from kernel.models.webhooks import WebhookDelivery, WebhookSubscription, deliver_due

INTERNAL_URLS = [
    "http://127.0.0.1:6379/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::127.0.0.1]/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://[::1]:8080/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fec0::1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://localhost:6379/",
]


@pytest.fixture
def no_connection(monkeypatch, settings):
    """Any attempt by this process to open a connection, except to the test's own Redis (the cache), fails the
    test: refusals come before connecting."""
    from urllib.parse import urlsplit

    services = (
        {(urlsplit(settings.REDIS_URL).hostname, urlsplit(settings.REDIS_URL).port)} if settings.REDIS_URL else set()
    )
    attempts = []
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded(real):
        def connect_to(sock, address):
            if tuple(address[:2]) in services:
                return real(sock, address)
            attempts.append(address)
            raise AssertionError(f"a connection to {address} was attempted")

        return connect_to

    monkeypatch.setattr(socket.socket, "connect", guarded(connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(connect_ex))
    return attempts


@pytest.fixture
def staff_api(api, user):
    user.is_staff = True
    user.save()
    return api


def resolving(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """Stand in for DNS: ``answers`` maps a name to its addresses; returns the list of names looked up."""
    asked = []

    def fake(host, port, *args, **kwargs):
        asked.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(egress, "getaddrinfo", fake)
    return asked


@pytest.mark.django_db
@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_destinations_are_refused_at_subscription_before_any_connection(staff_api, no_connection, url):
    response = staff_api.post("/api/v1/webhooks", {"url": url, "events": ["*"]}, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["errors"][0]["path"] == "/url"
    assert not WebhookSubscription.objects.exists() and no_connection == []


@pytest.mark.django_db
def test_a_name_that_resolves_to_a_private_address_is_refused(staff_api, no_connection, monkeypatch):
    resolving(monkeypatch, {"hooks.example.com": ["93.184.216.34", "10.0.0.1"]})  # one internal answer is enough
    response = staff_api.post(
        "/api/v1/webhooks", {"url": "https://hooks.example.com/h", "events": ["*"]}, format="json"
    )
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "/url"
    assert "hooks.example.com" in response.json()["errors"][0]["message"]
    subscription = staff_api.post("/api/v1/webhooks", {"url": "https://8.8.8.8/", "events": ["*"]}, format="json")
    assert subscription.status_code == 201  # a global address is accepted (and not contacted)
    patched = staff_api.patch(
        f"/api/v1/webhooks/{subscription.json()['id']}", {"url": "http://hooks.example.com/"}, format="json"
    )
    assert patched.status_code == 400 and patched.json()["errors"][0]["path"] == "/url"
    assert no_connection == []


@pytest.mark.django_db
def test_a_name_that_rebinds_to_loopback_after_subscribing_is_refused_at_send_time(
    staff_api, no_connection, monkeypatch
):
    answers = {"hooks.example.com": ["93.184.216.34"]}
    resolving(monkeypatch, answers)
    created = staff_api.post("/api/v1/webhooks", {"url": "http://hooks.example.com/", "events": ["*"]}, format="json")
    assert created.status_code == 201
    staff_api.post(f"/api/v1/webhooks/{created.json()['id']}/test")
    answers["hooks.example.com"] = ["127.0.0.1"]  # DNS rebinding

    deliver_due()

    delivery = WebhookDelivery.objects.get()
    assert delivery.last_error.startswith("destination refused") and delivery.attempts == 1
    assert no_connection == []


class Receiver:
    def __init__(self, status: int = 204):
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.mark.django_db
def test_a_loopback_receiver_not_allowed_by_the_operator_gets_nothing(receiver, no_connection, settings):
    # Written past the API (as an old row would be): the check before the attempt still refuses it.
    settings.WEBHOOK_ALLOWED_HOSTS = []
    subscription = WebhookSubscription.objects.create(url=f"http://127.0.0.1:{receiver.port}/", events=["*"])
    subscription.send_test_event()

    deliver_due()

    assert receiver.requests == [] and no_connection == []
    assert WebhookDelivery.objects.get().last_error.startswith("destination refused")


@pytest.mark.django_db
def test_the_send_connects_to_the_checked_address_with_the_name_in_host(receiver, settings, monkeypatch, staff_api):
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.internal.test"]
    asked = resolving(monkeypatch, {"hooks.internal.test": ["127.0.0.1"]})
    url = f"http://hooks.internal.test:{receiver.port}/in"
    assert staff_api.post("/api/v1/webhooks", {"url": url, "events": ["*"]}, format="json").status_code == 201
    WebhookSubscription.objects.get().send_test_event()
    asked.clear()

    deliver_due()

    assert asked == ["hooks.internal.test"]  # one lookup per attempt: the address checked is the one connected to
    assert receiver.requests[0]["host"] == f"hooks.internal.test:{receiver.port}"
    assert WebhookDelivery.objects.get().status == "delivered"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NotHTTP:
    """A TCP server that answers like Redis does to an HTTP request: an error line, then it hangs up."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(b"-ERR unknown command 'POST'\r\n")
                except OSError:
                    pass


@pytest.mark.django_db
def test_a_failure_is_reported_by_its_class_only(settings, receiver):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    not_http = NotHTTP()
    failing = Receiver(status=500)
    errors = {}
    try:
        cases = (
            ("closed", "http", closed_port()),
            ("not http", "http", not_http.port),
            ("http 500", "http", failing.port),
            ("tls", "https", failing.port),  # an https URL to a plain-HTTP port
        )
        for name, scheme, port in cases:
            subscription = WebhookSubscription.objects.create(url=f"{scheme}://127.0.0.1:{port}/", events=["*"])
            delivery = subscription.send_test_event()
            deliver_due()
            errors[name] = WebhookDelivery.objects.get(pk=delivery.pk).last_error
    finally:
        not_http.sock.close()
        failing.server.shutdown()
        failing.server.server_close()
    # A closed port and a port speaking another protocol read the same: no port scanner.
    assert errors == {
        "closed": "connection failed",
        "not http": "connection failed",
        "http 500": "HTTP 500",
        "tls": "TLS error",
    }


def test_the_allow_list_admits_names_addresses_and_cidrs(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.corp", "10.1.2.0/24", "::1"]
    assert egress.destination("http://10.1.2.9:8080/x").addresses[0].compressed == "10.1.2.9"
    assert egress.destination("http://[::1]/").port == 80
    with pytest.raises(egress.Refused):
        egress.destination("http://10.1.3.1/")
    with pytest.raises(egress.Refused):
        egress.destination("http://2130706433/")  # never a numeric host, allowed or not
    with pytest.raises(ValueError):
        egress.parse_allow_list(["not a host!"])


@pytest.mark.django_db
def test_the_admin_refuses_an_internal_destination_too(admin_client, no_connection, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    response = admin_client.post(
        "/admin/registry_project/webhooksubscription/add/",
        {"url": "http://169.254.169.254/latest/meta-data/", "events": '["*"]', "active": "on", "description": ""},
    )
    assert response.status_code == 200 and "not globally routable" in response.content.decode()
    assert not WebhookSubscription.objects.exists() and no_connection == []
