"""Slow and long uploads against the shipped server (gunicorn.conf.py: the threaded worker, default timeout 30 s)
on PostgreSQL: one 2 GiB upload paced at 10 MiB/s (about 205 s, seven times the timeout) beside 16 uploaders at
100 KB/s, while /health/live and a model read are probed every half second. Reports the big upload's outcome
(status, seconds, whether the stored SHA-256 matches) and the probes' latencies. Paste the table into
docs/benchmarks.md.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/reg_slow_uploads .venv/bin/python bench/slow_uploads.py

Creates (and recreates) the database named in DATABASE_URL; files go to a temporary directory. Traffic goes only
to the loopback server it started. SIZE_MIB (2048) and RATE_MIB (10) change the big upload.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.artifact_upload import seed  # noqa: E402
from bench.http_load import gunicorn, recreate_database  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/reg_slow_uploads")
MIB = 1024 * 1024
SIZE = int(os.environ.get("SIZE_MIB", "2048")) * MIB
RATE = int(os.environ.get("RATE_MIB", "10")) * MIB
SLOW_CLIENTS, SLOW_SIZE, SLOW_RATE = 16, 1_500_000, 100_000
BLOCK = os.urandom(MIB)
PATH = "/api/v1/models/llama2-7b-chat/versions/1.0.0/artifacts"


def paced(size: int, rate: int, chunk: int):
    started, sent = time.monotonic(), 0
    while sent < size:
        piece = (BLOCK * (chunk // MIB + 1))[: min(chunk, size - sent)]
        sent += len(piece)
        yield piece
        ahead = started + sent / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def expected_sha256(size: int, chunk: int) -> str:
    digest = hashlib.sha256()
    for piece in paced(size, 10**15, chunk):
        digest.update(piece)
    return digest.hexdigest()


def put(port: int, key: str, filename: str, size: int, rate: int, chunk: int) -> tuple[int, float, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.monotonic()
    headers = {
        "Authorization": f"Api-Key {key}",
        "Content-Length": str(size),
        "Content-Type": "application/octet-stream",
    }
    conn.request("PUT", f"{PATH}/{filename}", body=paced(size, rate, chunk), headers=headers)
    response = conn.getresponse()
    body = json.loads(response.read() or b"null")
    conn.close()
    return response.status, time.monotonic() - started, body


def probe(port: int, key: str, path: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.monotonic()
    conn.request("GET", path, headers={"Authorization": f"Api-Key {key}"})
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200, response.status
    return (time.monotonic() - started) * 1000


def main() -> None:
    recreate_database(DATABASE_URL)
    with tempfile.TemporaryDirectory(prefix="slow-uploads-") as root:
        env = {
            "DATABASE_URL": DATABASE_URL,
            "DEBUG": "false",
            "SECRET_KEY": "bench",
            "ALLOWED_HOSTS": "127.0.0.1",
            "ARTIFACT_ROOT": root,
            "ARTIFACT_MAX_FILE_BYTES": str(SIZE + MIB),
        }
        key = seed(env)
        config = ("-c", str(ROOT / "gunicorn.conf.py"), "--threads", os.environ.get("GUNICORN_THREADS", "8"))
        with gunicorn(env, workers=int(os.environ.get("WEB_CONCURRENCY", "4")), extra=config) as port:
            big: dict = {}
            slow: list = []

            def upload_big() -> None:
                big["result"] = put(port, key, "big.bin", SIZE, RATE, MIB)

            def upload_slow(n: int) -> None:
                slow.append(put(port, key, f"slow-{n}.bin", SLOW_SIZE, SLOW_RATE, 10_000))

            for _ in range(40):  # each worker's first request builds Django's URL resolvers and opens connections
                probe(port, key, "/api/v1/models/llama2-7b-chat")
            workers = [threading.Thread(target=upload_big)]
            workers += [threading.Thread(target=upload_slow, args=(n,)) for n in range(SLOW_CLIENTS)]
            for w in workers:
                w.start()
            time.sleep(1)
            live, reads = [], []
            while workers[0].is_alive():
                live.append(probe(port, key, "/health/live"))
                reads.append(probe(port, key, "/api/v1/models/llama2-7b-chat"))
                time.sleep(0.5)
            for w in workers:
                w.join()
        status, seconds, body = big["result"]
        stored = hashlib.sha256()
        for path in Path(root).rglob("big.bin"):  # the stored object, read back from the store
            with open(path, "rb") as f:
                while chunk := f.read(MIB):
                    stored.update(chunk)
    expected = expected_sha256(SIZE, MIB)
    verified = body.get("sha256") == expected == stored.hexdigest()
    print("| what | result |\n|---|---|")
    print(
        f"| {SIZE // MIB} MiB at {RATE // MIB} MiB/s | {status} in {seconds:.0f} s; stored and answered sha256 as sent: {verified} |"
    )
    print(f"| {SLOW_CLIENTS} uploads at {SLOW_RATE // 1000} KB/s | statuses {sorted({s for s, _, _ in slow})} |")
    for name, values in (("/health/live", live), ("model read", reads)):
        print(
            f"| {name} during the uploads ({len(values)} probes) | p50 {statistics.median(values):.1f} ms, "
            f"p99 {statistics.quantiles(values, n=100)[98]:.1f} ms, max {max(values):.1f} ms, "
            f"{sum(v >= 1000 for v in values)} over 1 s |"
        )


if __name__ == "__main__":
    main()
