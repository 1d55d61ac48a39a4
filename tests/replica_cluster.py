"""A PostgreSQL primary and its streaming replica of our own, for the read-replica tests.

The machine's cluster at 5432 accepts no replication connections, and tests never change its configuration. So
this makes a second primary with ``initdb`` in a temporary folder, on its own loopback port, and a replica of it
with ``pg_basebackup -R`` on another; both are stopped and the folder removed afterwards. PostgreSQL's server
programs refuse to run as root: as root, they run as the ``postgres`` user (``runuser``) in a folder it owns.
``pg_stat_statements`` is loaded in both, so a test reads each server's own count of the statements it ran.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.servers import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
SERVER_USER = "postgres"
SETTINGS = (
    "listen_addresses = '127.0.0.1'",
    "shared_preload_libraries = 'pg_stat_statements'",
    "pg_stat_statements.track = all",
    # A test cluster: nothing survives a crash, so nothing is synced to disk.
    "fsync = off",
    "synchronous_commit = off",
    "full_page_writes = off",
    "max_connections = 60",
    "shared_buffers = 16MB",
    "wal_level = replica",
    "max_wal_senders = 4",
    "hot_standby_feedback = on",
)


def available() -> bool:
    return (BIN / "initdb").is_file() and (BIN / "pg_basebackup").is_file()


def _as_server_user(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        args = ["runuser", "-u", SERVER_USER, "--", *args]
    return subprocess.run(args, check=True, capture_output=True, timeout=120, **kwargs)


class Server:
    def __init__(self, folder: Path, port: int):
        self.folder, self.port = folder, port
        self.log = folder.parent / f"{folder.name}.log"
        self._connections: dict[str, psycopg.Connection] = {}

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        _as_server_user(
            [
                str(BIN / "pg_ctl"),
                "-D",
                str(self.folder),
                "-l",
                str(self.log),
                "-w",
                "-t",
                "60",
                "-o",
                self._options(),
                "start",
            ]
        )

    def stop(self, mode: str = "fast") -> None:
        self.close()
        _as_server_user([str(BIN / "pg_ctl"), "-D", str(self.folder), "-m", mode, "-w", "stop"])

    def running(self) -> bool:
        return (self.folder / "postmaster.pid").exists()

    def _options(self) -> str:
        return f"-p {self.port} -k {self.folder.parent}"

    def query(self, database: str, sql: str, params=()) -> list[tuple]:
        """Rows of one statement, on a connection kept for the next (opened again if the server went away)."""
        for attempt in (1, 2):
            conn = self._connections.get(database)
            if conn is None or conn.closed:
                conn = self._connections[database] = psycopg.connect(
                    self.url(database), autocommit=True, connect_timeout=5
                )
            try:
                cursor = conn.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError:
                conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()


@contextmanager
def primary_and_replica(settings: tuple[str, ...] = ()):
    """Yields (primary, replica, folder), the primary running (``make_replica`` starts the replica), with no
    database of the registry's yet (the caller loads one before the replica is made, or after: the replica follows
    either way). ``settings`` are added to both servers' configuration, after ``SETTINGS``."""
    top = Path(tempfile.mkdtemp(prefix="registry-replica-test-"))
    if os.geteuid() == 0:
        shutil.chown(top, SERVER_USER, SERVER_USER)
    os.chmod(top, 0o700)
    primary = Server(top / "primary", free_port())
    replica = Server(top / "replica", free_port())
    started: list[Server] = []
    try:
        _as_server_user(
            [
                str(BIN / "initdb"),
                "-D",
                str(primary.folder),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )
        with open(primary.folder / "postgresql.conf", "a") as conf:
            conf.write("\n".join((*SETTINGS, *settings)) + "\n")
        primary.start()
        started.append(primary)
        yield primary, replica, top
    finally:
        for server in reversed(started + ([replica] if replica.running() else [])):
            if server.running():
                try:
                    server.stop("immediate")
                except subprocess.SubprocessError:
                    pass
        shutil.rmtree(top, ignore_errors=True)


def make_replica(primary: Server, replica: Server) -> None:
    """``pg_basebackup -R``: a copy of the primary that streams and replays its WAL, as a hot standby."""
    _as_server_user(
        [
            str(BIN / "pg_basebackup"),
            "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(replica.folder), "-R", "-X", "stream", "--no-sync", "-c", "fast",
        ]
    )  # fmt: skip
    replica.start()


def wait_for_replay(primary: Server, replica: Server, database: str, seconds: float = 20) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    (target,) = primary.query(database, "SELECT pg_current_wal_insert_lsn()")[0]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            (caught_up,) = replica.query(database, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(target),))[0]
            if caught_up:
                return
        except psycopg.OperationalError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the replica did not catch up")
