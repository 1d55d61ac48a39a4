"""Real server processes for tests that need more than one: gunicorn with the shipped ``gunicorn.conf.py`` on a
free port of 127.0.0.1, pointed at the test database that pytest-django created, a private ``redis-server``
for tests that stall or stop Redis (never the shared one), and Debian's PgBouncer in front of the test server."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from django.db import connections

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def shared_database_url(alias: str = "default") -> str:
    """The database pytest-django is using, for a server process to share (PostgreSQL only)."""
    s = connections[alias].settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def shared_replica_urls() -> dict[str, str]:
    """``DATABASE_REPLICA_URLS`` for a server process on the test database, when the suite has replicas."""
    replicas = [shared_database_url(alias) for alias in connections if alias.startswith("replica_")]
    return {"DATABASE_REPLICA_URLS": ",".join(replicas)} if replicas else {}


def _wait_for(url: str, process: subprocess.Popen, log_file, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_file.seek(0)
            raise RuntimeError(f"server exited with {process.returncode}: {log_file.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer {url} in {seconds} s")


@contextmanager
def gunicorn(*, workers: int = 1, env: dict | None = None, log: Path | None = None, options: tuple[str, ...] = ()):
    """Yields the base URL of a gunicorn server on the test database; stops it (and its workers) afterwards.
    ``options`` are more command-line settings (``("--threads", "4")``), after those of ``gunicorn.conf.py``.
    Its stderr (the logs) goes to ``log`` or a temporary file, never a pipe that could fill up and stall it."""
    port = free_port()
    log_file = open(log, "w+b") if log else tempfile.TemporaryFile()
    metrics_dir = (env or {}).get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="registry-test-metrics-")
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")},
        "DATABASE_URL": shared_database_url(),
        # Under make test-replica, the replica's URL names the test database too (a test mirror's NAME).
        **shared_replica_urls(),
        "DEBUG": "false",
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SECURE_SSL_REDIRECT": "false",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "LOG_FORMAT": "json",
        **(env or {}),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            *options,
            "registry_project.wsgi:application",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/health/live", process, log_file)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        log_file.close()


def start_redis(port: int) -> subprocess.Popen:
    """A redis-server of our own on ``port`` of 127.0.0.1 (no persistence), once it accepts connections; the caller
    stops it. A test may stop and start it again on the same port (a broker that is down, then back)."""
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


def wait_for(condition, seconds: float) -> bool:
    """Whether ``condition()`` held within ``seconds`` (polled; asked once more at the end)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@contextmanager
def private_redis():
    """A redis-server of our own on a free port: tests may pause, stop or kill it without touching anyone else's."""
    port = free_port()
    process = start_redis(port)
    try:
        yield port, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # in case a test left it stopped
            process.kill()
        process.wait()


PGBOUNCER = "/usr/sbin/pgbouncer"


@contextmanager
def pgbouncer(*, pool_size: int = 4, shipped: str | None = None, password: str = ""):
    """A PgBouncer of our own in transaction mode on a free port of 127.0.0.1, in front of the PostgreSQL server the
    tests use; yields the URL of the test database through it. ``server_round_robin`` hands out server connections
    in turn rather than the most recently used first, so a client's consecutive transactions land in different
    server sessions whenever the pool holds more than one: state a session kept (a prepared statement, a
    session-level advisory lock, a ``SET``) is then missing, or left behind, where a test can see it.

    ``shipped``: run this ``pgbouncer.ini`` instead (deploy/kubernetes/pgbouncer.yaml's), only its address, port,
    user list and its one database pointed here; ``password`` is then the user's in the user list."""
    s = connections["default"].settings_dict
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="registry-test-pgbouncer-"))
    (folder / "users.txt").write_text(f'"{s["USER"]}" "{password or s["PASSWORD"] or ""}"\n')
    server = f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432}"
    if shipped:
        here = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(port),
            "auth_file": str(folder / "users.txt"),
            "logfile": str(folder / "pgbouncer.log"),
        }
        config = re.sub(r"(?m)^(\w+) = host=.*$", rf"\1 = {server} dbname={s['NAME']}", shipped)
        config = re.sub(r"(?m)^(listen_addr|listen_port|auth_file) = .*$", lambda m: f"{m[1]} = {here[m[1]]}", config)
        database = re.search(r"(?m)^(\w+) = host=", shipped)[1]
        config += f"logfile = {here['logfile']}\n"
    else:
        config = (
            "[databases]\n"
            f"* = {server}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 200\n"
            "server_round_robin = 1\n"
            f"logfile = {folder / 'pgbouncer.log'}\n"
        )
        database = s["NAME"]
    (folder / "pgbouncer.ini").write_text(config)
    command = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root; it switches to -u's user after reading its files
        shutil.chown(folder, "postgres")
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_for(lambda: process.poll() is not None or _accepts(port), 20) or process.poll() is not None:
            log = folder / "pgbouncer.log"
            raise RuntimeError(f"pgbouncer did not start: {log.read_text()[-2000:] if log.exists() else ''}")
        secret = password or s["PASSWORD"]
        auth = s["USER"] + (f":{secret}" if secret else "")
        yield f"postgresql://{auth}@127.0.0.1:{port}/{database}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
