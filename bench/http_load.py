"""A small closed-loop HTTP load generator for the benchmarks: N threads, each with one keep-alive connection,
send requests for a fixed count or duration; we report requests/s and p50/p99 latency.

Traffic goes only to the loopback server the benchmark itself started. The benches' shared start-up is here too:
``gunicorn`` serves the checkout, ``manage`` runs its manage.py, ``recreate_database`` gives a bench an empty database.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent

# A request is (method, path, body or None); a factory gets the worker's index and the request's sequence number.
RequestFactory = Callable[[int, int], tuple[str, str, dict | None]]


@dataclass
class LoadResult:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    def row(self) -> str:
        return (
            f"| {self.name} | {self.requests} | {self.rps:,.0f} | {self.percentile(50):.1f} | {self.percentile(99):.1f} | "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(self.statuses.items()))} |"
        )


TABLE_HEADER = "| scenario | requests | req/s | p50 ms | p99 ms | statuses |\n|---|---|---|---|---|---|"


def run_load(
    name: str,
    host: str,
    port: int,
    headers: dict[str, str],
    make_request: RequestFactory,
    *,
    concurrency: int = 4,
    requests_per_worker: int = 200,
    warmup: int = 10,
) -> LoadResult:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        local, local_status = [], {}

        def send(seq: int) -> int:
            method, path, body = make_request(index, seq)
            data = json.dumps(body).encode() if body is not None else None
            hdrs = dict(headers)
            if data is not None:
                hdrs["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=hdrs)
            response = conn.getresponse()
            response.read()
            return response.status

        for seq in range(warmup):
            send(-1 - seq)
        barrier.wait()
        for seq in range(requests_per_worker):
            started = time.perf_counter()
            status = send(seq)
            local.append((time.perf_counter() - started) * 1000)
            local_status[status] = local_status.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(local)
            for k, v in local_status.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return LoadResult(name, len(latencies), elapsed, latencies, statuses)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(
    env: dict[str, str], *, workers: int = 2, threads: int = 1, extra: tuple[str, ...] = (), root: Path = ROOT
):
    """Serve the registry with gunicorn on a free loopback port, from the checkout at ``root``; yields the port."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "registry_project.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        # gunicorn.conf.py leaves gunicorn's access log off (the registry writes its own); an --access-logfile of
        # /dev/null would still format a line per request, a cost production does not pay.
        *(["--access-logfile", "-"] if os.environ.get("BENCH_ACCESS_LOG") else []),
        *extra,
    ]
    # Benchmarks measure the registry, not the rate limiter or the HTTPS redirect (plain HTTP on loopback).
    unthrottled = {
        "API_RATE_LIMIT": "100000000/min",
        "API_CHECK_RATE_LIMIT": "100000000/min",
        "SECURE_SSL_REDIRECT": "false",
    }
    proc = subprocess.Popen(cmd, cwd=root, env={**os.environ, **unthrottled, **env}, start_new_session=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("gunicorn exited before serving") from None
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start in 30 s")
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def manage(env: dict[str, str], *args: str) -> str:
    """Run ``manage.py *args`` from this checkout with ``env`` over os.environ; returns its stdout."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def migrate_with_key(env: dict[str, str]) -> str:
    """Migrate the database ``env`` names and issue an API key to a superuser ``bench`` (registering needs
    models_app.add_modelversion, which a plain user's key does not carry); returns the key."""
    manage(env, "migrate", "--verbosity", "0")
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "get_user_model().objects.create_superuser('bench', 'bench@example.invalid', 'bench-password-1')",
    )
    return manage(env, "create_api_key", "bench").strip().splitlines()[-1]


def recreate_database(url: str, *, create: bool = True) -> None:
    """Drop the database named in ``url`` if it exists, then create it empty (``create=False``: only drop), with
    psql on that server's ``postgres`` database, so each run starts from nothing."""
    parsed = urlparse(url)  # a SQLAlchemy URL ("postgresql+psycopg2://...") parses the same
    name = parsed.path.lstrip("/")
    port = ["-p", str(parsed.port)] if parsed.port else []
    base = ["psql", "-h", parsed.hostname or "127.0.0.1", *port, "-U", parsed.username or "postgres", "-d", "postgres"]
    subprocess.run([*base, "-qc", f'DROP DATABASE IF EXISTS "{name}"'], check=True)
    if create:
        subprocess.run([*base, "-qc", f'CREATE DATABASE "{name}"'], check=True)


def summary(values: list[float]) -> str:
    return f"mean {statistics.mean(values):.2f}, min {min(values):.2f}, max {max(values):.2f}"
