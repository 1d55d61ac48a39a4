"""A per-process cache of verified API keys, validated on every request by one cheap database read.

Verifying a key costs an ORM query joining the key and its user, building both objects and hashing the key;
on a read that is most of the request. The cache keeps the verified (key, user) pair, the user with the
permissions it held when the key was verified (two queries a write would otherwise make), for ``TTL_SECONDS``,
but only while the database's credential token (``CredentialGeneration``) is the one it was filled under:
triggers change that token in the same transaction as any change to an API key, a user, a user's groups or
permissions, or a group's permissions, so a revoke, an expiry change, a deactivation or a withdrawn permission is
seen by every process on every replica on its very next request.

Why not Redis: Redis is an accelerator, never the source of truth. A Redis-held cache needs an invalidation that
can be lost (Redis down or stalled when the revoke happens) and then keeps serving a revoked key until a TTL
runs out. The token read is one indexed primary-key row that the database answers in ~0.1 ms over the
connection the request already holds, with no ORM compilation, and it is exactly as fresh as the revoke.

With read replicas (``registry_project.replicas``) a read takes the token and the keys from the database it reads
from, so the two always agree: a revoke reaches writes at once and reads within the replicas' lag bound
(``DATABASE_REPLICA_MAX_LAG_SECONDS``).
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections import OrderedDict

from django.db import connection

from kernel.fastpaths.prepared import fixed_statement_cursor
from registry_project.replicas import read_connection

TTL_SECONDS = 60.0
MAX_ENTRIES = 1024

_TOKEN_SQL = None


def current_token() -> str | None:
    """The credential token as committed now; None when the row is missing (then nothing is cached)."""
    global _TOKEN_SQL
    if _TOKEN_SQL is None:
        from kernel.models import CredentialGeneration

        table = connection.ops.quote_name(CredentialGeneration._meta.db_table)
        _TOKEN_SQL = f"SELECT token FROM {table} WHERE id = 1"
    # Where the request reads its keys and users: the token and the rows it vouches for come from one database.
    with fixed_statement_cursor(read_connection()) as cursor:
        cursor.execute(_TOKEN_SQL)
        row = cursor.fetchone()
    return row[0] if row else None


def token_column():
    """The credential token as an expression a read's own statement can select (``kernel.reads.lookups``): a
    document read confirms its cached key with the token read in the same statement, not a statement of its own
    (see ``kernel.api.auth``). The token is then exactly as fresh as the document it guards."""
    from django.db.models import Subquery

    from kernel.models import CredentialGeneration

    return Subquery(CredentialGeneration.objects.filter(pk=1).values("token")[:1])


class VerifiedKeyCache:
    def __init__(self, ttl: float = TTL_SECONDS, max_entries: int = MAX_ENTRIES):
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[str, float, object, object]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.sha256(key.encode()).digest()

    def get(self, key: str, token: str | None):
        """(user, api_key) verified under ``token`` within the TTL, as copies the request may keep; or None. An entry
        verified under another token is dropped."""
        if token is None:
            return None
        found = self.get_unconfirmed(key)
        if found is None:
            return None
        cached_token, user, api_key = found
        if cached_token != token:
            self.discard(key)
            return None
        return user, api_key

    def get_unconfirmed(self, key: str):
        """(token, user, api_key) verified within the TTL, whatever the token is now: the caller confirms the token
        before it answers (``kernel.api.auth``). None when the key is not cached; an expired entry is
        dropped."""
        digest = self._digest(key)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None and time.monotonic() - entry[1] > self.ttl:
                del self._entries[digest]
                entry = None
        if entry is None:
            return None
        token, _, user, api_key = entry
        return token, copy.copy(user), copy.copy(api_key)

    def discard(self, key: str) -> None:
        with self._lock:
            self._entries.pop(self._digest(key), None)

    def put(self, key: str, token: str | None, user, api_key) -> None:
        if token is None:
            return
        with self._lock:
            self._entries[self._digest(key)] = (token, time.monotonic(), user, api_key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def note_use(self, key: str, token: str | None, last_used_at) -> None:
        """Record on the cached key (still cached under ``token``) that its use was written at ``last_used_at``."""
        with self._lock:
            entry = self._entries.get(self._digest(key))
            if entry is not None and entry[0] == token:
                entry[3].last_used_at = last_used_at

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


verified_keys = VerifiedKeyCache()
