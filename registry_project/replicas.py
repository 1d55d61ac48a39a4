"""Read replicas: which database a request reads from, and how a client reads its own writes.

Configured by ``DATABASE_REPLICA_URLS`` (settings: one alias ``replica_1``, ``replica_2``, ... per URL). Without
it nothing here is installed (no router, no middleware): every query goes to the primary, as before.

What goes where (docs/production.md, "Read replicas"):

- A ``GET`` or ``HEAD`` under ``/api/`` (documents, lists, searches, route, lineage, stats, the change log, MLflow's
  reads) reads from a replica in rotation, chosen once per request by ``ReplicaReadMiddleware``.
- Every other request (writes, the admin, health, metrics) reads and writes on the primary, whole: the reads a
  write makes before its transaction (an ``If-Match`` check, a reference to another definition) are as fresh as
  the write. ``ReplicaRouter`` sends every write to the primary, and every read to the primary while the primary's
  connection is inside a transaction (a read inside a write's transaction sees the write's own rows and locks).
- Code that runs SQL itself reads through ``read_connection()``, the same choice as the router's.

Read-your-writes: a write's answer carries ``X-Consistency-Token``, the primary's WAL insert position after the
commit (``pg_current_wal_insert_lsn()``), and a browser gets it as the ``registry_consistency`` cookie too. A read
that sends it back is served by a replica only once that replica has replayed past it
(``pg_last_wal_replay_lsn() >= token``), else by the primary.

Rotation: a replica serves reads only while its data is at most ``DATABASE_REPLICA_MAX_LAG_SECONDS`` old. Each
process checks its replicas at most once every ``DATABASE_REPLICA_CHECK_SECONDS`` (when a read needs them, never
in the background): it reads the primary's WAL position and keeps it with the time, then each replica's replay
position. A replica that has replayed past a position sampled at time t has every commit made before t, so its
data is at most ``now - t`` old; a replica is in rotation while that bound plus one check interval (the most it
can fall behind before the next check) is within the lag limit. The measure needs no clock on the replica and
sees a replica whose replication stream broke (it stops moving while the primary does) as well as one that is
paused or slow. A replica that fails a check or a query, is not in recovery (promoted, or not a replica at all)
or has not replayed anything is out of rotation until a later check finds it well.
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
import time
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Consistency-Token"
TOKEN_COOKIE = "registry_consistency"
# A WAL position as PostgreSQL writes it (pg_lsn's text): two hexadecimal halves of a 64-bit number.
_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")
_SAFE_METHODS = frozenset({"GET", "HEAD"})

_read_alias: ContextVar[str] = ContextVar("registry_read_alias", default=DEFAULT_DB_ALIAS)


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith("replica_")]


def read_alias() -> str:
    """The database this request reads from now: its replica, unless the primary's connection is inside a
    transaction (a write's own reads stay with the write)."""
    alias = _read_alias.get()
    if alias != DEFAULT_DB_ALIAS and connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return alias


def read_connection():
    """The connection for SQL a read runs itself (``connection`` is always the primary's)."""
    return connections[read_alias()]


class ReplicaRouter:
    """Django's database router (``DATABASE_ROUTERS``) when replicas are configured."""

    def db_for_read(self, model, **hints):
        return read_alias()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # every alias holds the same database

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS  # a replica replays the primary's migrations


def parse_token(raw: str | None) -> int | None:
    """A consistency token (``16/B374D848``) as a number; None when absent or not a token."""
    match = _LSN.fullmatch(raw or "")
    return (int(match[1], 16) << 32) | int(match[2], 16) if match else None


def format_token(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def _one_value(alias: str, sql: str):
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()


def primary_position() -> int:
    """The primary's WAL insert position: past the end of every commit made so far."""
    return parse_token(_one_value(DEFAULT_DB_ALIAS, "SELECT pg_current_wal_insert_lsn()::text")[0])


@dataclass
class ReplicaState:
    alias: str
    checked_at: float = -math.inf  # time.monotonic() of the last check
    replayed: int = -1  # the replay position seen last (it only moves forward)
    staleness: float = math.inf  # seconds its data may be behind the primary, at the last check
    in_rotation: bool = False
    reason: str = "not checked yet"


class Rotation:
    """The replicas of this process and which of them serve reads now (module docstring, "Rotation")."""

    def __init__(self, aliases: list[str], max_lag: float, check_seconds: float):
        self.replicas = [ReplicaState(alias) for alias in aliases]
        self.max_lag, self.check_seconds = max_lag, check_seconds
        # (time, primary position) sampled at the checks of the last max_lag seconds, oldest first.
        self._samples: deque[tuple[float, int]] = deque(maxlen=256)
        self._checking = threading.Lock()

    def choose(self, token: int | None) -> str:
        """The alias a read with ``token`` (or none) is served from: a replica in rotation that has replayed past
        the token, else the primary."""
        self.check_if_due()
        candidates = [replica for replica in self.replicas if replica.in_rotation]
        random.shuffle(candidates)
        if token is None:
            return candidates[0].alias if candidates else DEFAULT_DB_ALIAS
        for replica in candidates:
            if replica.replayed >= token or self._replayed_now(replica) >= token:
                return replica.alias
        return DEFAULT_DB_ALIAS

    def take_out(self, alias: str, reason: str) -> None:
        """Out of rotation until the next check (a query on it failed)."""
        for replica in self.replicas:
            if replica.alias == alias:
                replica.in_rotation, replica.reason, replica.checked_at = False, reason, time.monotonic()
                log.warning("read replica out of rotation", extra={"replica": alias, "reason": reason})
        connections[alias].close()

    def check_if_due(self) -> None:
        now = time.monotonic()
        if all(now - replica.checked_at < self.check_seconds for replica in self.replicas):
            return
        if not self._checking.acquire(blocking=False):
            return  # another thread of this process is checking; its result serves everyone
        try:
            self.check(now)
        finally:
            self._checking.release()

    def check(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        try:
            self._samples.append((now, primary_position()))
        except DatabaseError as error:
            # Without the primary's position no replica's lag can be known.
            for replica in self.replicas:
                self._set(replica, now, False, f"the primary's WAL position could not be read: {error}")
            connections[DEFAULT_DB_ALIAS].close_if_unusable_or_obsolete()
            return
        while self._samples and now - self._samples[0][0] > self.max_lag + self.check_seconds:
            self._samples.popleft()
        for replica in self.replicas:
            self._check_replica(replica, now)

    def _check_replica(self, replica: ReplicaState, now: float) -> None:
        try:
            in_recovery, replayed = _one_value(
                replica.alias, "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text"
            )
        except DatabaseError as error:
            connections[replica.alias].close()
            self._set(replica, now, False, f"check failed: {error}")
            return
        if not in_recovery or replayed is None:
            self._set(replica, now, False, "not a replica in recovery (promoted, or a primary)")
            return
        replica.replayed = max(replica.replayed, parse_token(replayed))
        covered = [at for at, position in self._samples if position <= replica.replayed]
        replica.staleness = now - max(covered) if covered else math.inf
        in_rotation = replica.staleness + self.check_seconds <= self.max_lag
        reason = "" if in_rotation else f"its data may be {replica.staleness:.1f} s behind the primary"
        self._set(replica, now, in_rotation, reason)
        if not covered and len(self._samples) == 1:
            # The first check (of the process, or after a quiet spell): the primary wrote since the replica's last
            # replay, and no earlier position tells how long ago. Unknown rather than stale: the next read checks
            # again, against this position.
            replica.reason, replica.checked_at = "not measured yet", -math.inf

    def _set(self, replica: ReplicaState, now: float, in_rotation: bool, reason: str) -> None:
        if in_rotation != replica.in_rotation:
            event = "read replica in rotation" if in_rotation else "read replica out of rotation"
            log.info(event, extra={"replica": replica.alias, "reason": reason})
        replica.checked_at, replica.in_rotation, replica.reason = now, in_rotation, reason

    def _replayed_now(self, replica: ReplicaState) -> int:
        """The replica's replay position asked now (a token ahead of the last check's): one query to it."""
        try:
            (replayed,) = _one_value(replica.alias, "SELECT pg_last_wal_replay_lsn()::text")
        except DatabaseError as error:
            self.take_out(replica.alias, f"query failed: {error}")
            return -1
        if replayed is not None:
            replica.replayed = max(replica.replayed, parse_token(replayed))
        return replica.replayed


_rotation: Rotation | None = None
_rotation_lock = threading.Lock()


def rotation() -> Rotation:
    """This process's rotation (each gunicorn worker checks its own replicas)."""
    global _rotation
    if _rotation is None:
        with _rotation_lock:
            if _rotation is None:
                _rotation = Rotation(
                    replica_aliases(),
                    settings.DATABASE_REPLICA_MAX_LAG_SECONDS,
                    settings.DATABASE_REPLICA_CHECK_SECONDS,
                )
    return _rotation


def check_replicas() -> None:
    """The health check (``kernel.api.health``): fails, so ``degraded``, while no replica serves reads."""
    current = rotation()
    current.check()
    if not any(replica.in_rotation for replica in current.replicas):
        reasons = "; ".join(f"{replica.alias}: {replica.reason}" for replica in current.replicas)
        raise RuntimeError(f"no read replica in rotation ({reasons})")


class ReplicaReadMiddleware:
    """Chooses the database a request reads from (module docstring) and gives a write's answer its consistency
    token. Installed after ``DatabaseFailureMiddleware``: a read whose replica failed is answered again by that
    middleware, and comes back here to be served by another replica or the primary."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.cookie_max_age = math.ceil(settings.DATABASE_REPLICA_MAX_LAG_SECONDS) + 1

    def __call__(self, request):
        if request.method in _SAFE_METHODS and request.path.startswith("/api/"):
            return self._read(request)
        response = self.get_response(request)
        if request.method not in _SAFE_METHODS and response.status_code < 400:
            self._give_token(request, response)
        return response

    def _read(self, request):
        raw = request.headers.get(TOKEN_HEADER) or request.COOKIES.get(TOKEN_COOKIE)
        token = parse_token(raw)
        if raw and token is None:
            alias = DEFAULT_DB_ALIAS  # a token that is not one cannot be proven replayed: the primary answers
        else:
            alias = rotation().choose(token)
        reset = _read_alias.set(alias)
        try:
            response = self.get_response(request)
        finally:
            _read_alias.reset(reset)
        if alias != DEFAULT_DB_ALIAS and getattr(response, "database_failure", False):
            rotation().take_out(alias, "a read on it met a database failure")
        return response

    def _give_token(self, request, response) -> None:
        try:
            token = format_token(primary_position())
        except DatabaseError:
            return  # the write is answered; the next read without a token is as fresh as the lag bound
        response[TOKEN_HEADER] = token
        if request.COOKIES:  # a browser (it holds a CSRF or session cookie); services send the header back
            response.set_cookie(
                TOKEN_COOKIE,
                token,
                max_age=self.cookie_max_age,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
