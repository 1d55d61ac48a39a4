"""Slow, silent and vanishing uploaders against the shipped server (gunicorn.conf.py: the threaded worker of
registry_project/gunicorn_workers.py) on PostgreSQL: they hold a thread each, never the server. Loopback only;
every client socket has a timeout, so a test that regresses fails rather than hangs."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from kernel.models import ApiKey
from kernel.writes.register import register
from models_app.models import ArtifactFile, Model
from tests.servers import gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PATH = "/api/v1/models/llama2-7b-chat/versions/1.0.0/artifacts"


@pytest.fixture
def key(user, llama_doc) -> str:
    register(Model, llama_doc)
    return ApiKey.objects.issue(user)[1]


def server(tmp_path, *, workers: int, threads: int, idle_seconds: int):
    env = {"ARTIFACT_ROOT": str(tmp_path / "store"), "GUNICORN_TIMEOUT": str(idle_seconds)}
    return gunicorn(workers=workers, env=env, options=("--threads", str(threads)), log=tmp_path / "server.log")


def port_of(base: str) -> int:
    return urlsplit(base).port


def start_upload(port: int, key: str, filename: str, size: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        (
            f"PUT {PATH}/{filename} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Api-Key {key}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
        ).encode()
    )
    return sock


def answer(sock: socket.socket) -> tuple[int, dict]:
    """The status and JSON body of the one answer on ``sock`` (the server closes or sends Content-Length)."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, json.loads(response.read() or b"null")


def send_at(sock: socket.socket, data: bytes, *, bytes_per_second: int, chunk: int = 10_000) -> None:
    started = time.monotonic()
    for sent in range(0, len(data), chunk):
        sock.sendall(data[sent : sent + chunk])
        behind = started + (sent + chunk) / bytes_per_second - time.monotonic()
        if behind > 0:
            time.sleep(behind)


def timed_get(port: int, path: str, key: str | None = None) -> tuple[int, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Api-Key {key}"} if key else {})
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        conn.close()


def stored_files(tmp_path) -> list:
    return [p for p in (tmp_path / "store").rglob("*") if p.is_file()]


def test_sixteen_slow_uploaders_leave_reads_and_liveness_answering_at_once(key, tmp_path):
    """16 clients upload at 100 KB/s (5 s each) on a server of 2 workers; meanwhile every /health/live and every
    model read answers in under a second. Sync workers (gunicorn's default) queue them behind the uploads."""
    size, rate = 500_000, 100_000
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    with server(tmp_path, workers=2, threads=12, idle_seconds=10) as base:
        port = port_of(base)
        sockets = [start_upload(port, key, f"part-{n}.bin", size) for n in range(16)]
        results: list = [None] * 16

        def upload(n: int) -> None:
            send_at(sockets[n], data, bytes_per_second=rate)
            results[n] = answer(sockets[n])

        threads = [threading.Thread(target=upload, args=(n,), daemon=True) for n in range(16)]
        for t in threads:
            t.start()
        time.sleep(1)  # every upload is under way
        probes = []
        for _ in range(5):
            probes.append(timed_get(port, "/health/live"))
            probes.append(timed_get(port, "/api/v1/models/llama2-7b-chat", key))
        still_uploading = sum(t.is_alive() for t in threads)
        for t in threads:
            t.join(timeout=30)
        for s in sockets:
            s.close()

    assert [status for status, _ in probes] == [200] * 10
    slowest = max(seconds for _, seconds in probes)
    assert slowest < 1.0, f"a read waited {slowest:.1f} s behind slow uploads"
    assert still_uploading == 16, "the uploads ended before the probes: the test proved nothing"
    assert [r[0] for r in results] == [201] * 16, results
    digest = hashlib.sha256(data).hexdigest()
    assert {r[1]["sha256"] for r in results} == {digest}
    assert ArtifactFile.objects.count() == 16


def test_an_upload_longer_than_the_servers_timeout_completes_and_verifies(key, tmp_path):
    """The timeout bounds silence, not length: a 2 s timeout, an upload of ~5 s at a steady pace."""
    data = hashlib.sha256(b"seed").digest() * 50_000  # 1.6 MB
    with server(tmp_path, workers=1, threads=2, idle_seconds=2) as base:
        sock = start_upload(port_of(base), key, "long.bin", len(data))
        with sock:
            send_at(sock, data, bytes_per_second=320_000)
            status, body = answer(sock)
    assert status == 201, body
    assert body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    stored = ArtifactFile.objects.get(filename="long.bin")
    assert hashlib.sha256((tmp_path / "store" / stored.storage_key).read_bytes()).hexdigest() == body["sha256"]


def test_a_client_that_goes_silent_mid_body_is_cut_off_and_nothing_is_kept(key, tmp_path):
    with server(tmp_path, workers=1, threads=2, idle_seconds=2) as base:
        sock = start_upload(port_of(base), key, "stalled.bin", 1_000_000)
        with sock:
            sock.sendall(b"x" * 300_000)  # then nothing: the idle deadline (2 s) ends it
            started = time.monotonic()
            status, body = answer(sock)
            waited = time.monotonic() - started
        assert timed_get(port_of(base), "/health/live")[0] == 200
    assert status == 408, body
    assert body["errors"][0]["code"] == "body_interrupted"
    assert body["errors"][0]["parameter"] == "filename"
    assert waited < 20
    assert not ArtifactFile.objects.exists()
    assert stored_files(tmp_path) == []


def test_dropped_connections_mid_body_free_their_threads_and_keep_nothing(key, tmp_path):
    """One worker with two threads: six uploads dropped halfway (reset, then closed) would hold every thread for
    good if a dropped peer were not noticed; a read after them answers, and nothing was stored."""
    with server(tmp_path, workers=1, threads=2, idle_seconds=5) as base:
        port = port_of(base)
        for n in range(6):
            sock = start_upload(port, key, f"dropped-{n}.bin", 1_000_000)
            sock.sendall(b"y" * 200_000)
            if n % 2:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
            sock.close()
        status, _ = timed_get(port, "/api/v1/models/llama2-7b-chat", key)
        deadline = time.monotonic() + 10  # the threads delete what they stored as they notice the drop
        while stored_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert status == 200
    assert not ArtifactFile.objects.exists()
    assert stored_files(tmp_path) == []


@contextmanager
def trickling(port: int, head: bytes, count: int, *, more: bytes, every: float):
    """``count`` connections that each send ``head``, then ``more`` every ``every`` seconds until the block ends
    (a send to a connection the server has closed is ignored); yields the sockets, closed afterwards."""
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    for sock in sockets:
        sock.sendall(head)
    stop = threading.Event()

    def keep_sending() -> None:
        while not stop.wait(every):
            for sock in sockets:
                try:
                    sock.sendall(more)
                except OSError:
                    pass  # closed by the server by now

    sending = threading.Thread(target=keep_sending, daemon=True)
    sending.start()
    try:
        yield sockets
    finally:
        stop.set()
        sending.join(timeout=5)
        for sock in sockets:
            sock.close()


def test_clients_that_keep_sending_after_a_closing_answer_do_not_stall_the_worker(tmp_path):
    """Three clients are answered with Connection: close and keep sending a byte now and then. gunicorn lingers up
    to 2 s on each such close to drain what the peer sends; done on the worker's main loop, that stops its accepting
    (and its heartbeat: fifteen such clients and gunicorn kills the worker) for 2 s per client."""
    with server(tmp_path, workers=1, threads=4, idle_seconds=30) as base:
        port = port_of(base)
        timed_get(port, "/health/live")  # the worker's first request loads what Django loads lazily
        closing = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        with trickling(port, closing, 3, more=b"x", every=0.3):
            time.sleep(0.5)  # every answer sent; the closes are lingering
            status, seconds = timed_get(port, "/health/live")
    assert status == 200
    assert seconds < 1.0, f"/health/live waited {seconds:.1f} s behind lingering closes"


def test_clients_that_drip_their_request_heads_are_cut_off_and_the_rest_are_served(key, tmp_path):
    """One worker with two threads and a 3 s timeout; two clients send a header line every second, each inside the
    idle deadline, never ending the head (slowloris). Without a deadline on the whole head they would hold both
    threads for good and the worker would stop listening: /health/live would never answer."""
    with server(tmp_path, workers=1, threads=2, idle_seconds=3) as base:
        port = port_of(base)
        timed_get(port, "/health/live")  # the worker's first request loads what Django loads lazily
        head = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        with trickling(port, head, 2, more=b"X-Slow: 1\r\n", every=1) as drippers:
            time.sleep(4.5)  # past the head's 3 s; each line came within the idle deadline
            status, seconds = timed_get(port, "/health/live")
            cut = [sock.recv(1024) for sock in drippers]  # b"" once the server has closed the connection
    assert status == 200
    assert seconds < 1.0, f"/health/live waited {seconds:.1f} s behind dripping heads"
    assert cut == [b"", b""]
    # Routine, not an error: one info line per client cut off, no traceback that a slowloris could flood the log with.
    log = (tmp_path / "server.log").read_text()
    assert log.count("Client cut off at its deadline") >= 2, log[-2000:]
    assert "Socket error processing request" not in log and "Traceback" not in log
