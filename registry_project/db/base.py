"""Django's PostgreSQL backend with a health check that does not ask the server.

``CONN_HEALTH_CHECKS`` keeps a persistent connection from failing the first query of a request after the server
went away (a restart, a failover, ``pg_terminate_backend``, an idle timeout). Django checks by sending ``SELECT 1``
before the request's first query: one more round trip on every request, about a tenth of a write's time in a
py-spy profile of the register path. A connection that the server has closed says so without being asked:
psycopg marks it ``closed`` or ``broken`` once a call failed, and a server that ends a session first sends an
``ErrorResponse`` (``FATAL``, the only error the protocol sends unasked) and then closes the socket. So the check
polls the idle connection's socket without waiting and peeks at what is there, consuming nothing: nothing (the
usual case) means usable; end of file, a reset or an ``E`` message means the server ended the session. Anything
else (a notice, a parameter status, TLS bytes that cannot be read without decrypting) is left to Django's
``SELECT 1``, the only case that still costs a round trip.

A check can only say the connection was alive when it looked, with ``SELECT 1`` as without it: a connection that
dies between the check and the query fails that query, as before.

Why not a connection pool (``OPTIONS["pool"]``): the pool checks a connection when it is handed out, by the same
``SELECT 1``; what we need is the check, not the pool.
"""

from __future__ import annotations

import select
import socket
from contextlib import contextmanager

import psycopg
from django.db.backends.postgresql import base, operations
from psycopg import pq

from registry_project.private_apis.for_django import server_binding_cursor

# Transaction states in which a health check may run: idle, or inside a transaction block that psycopg opened
# (no autocommit) and that is waiting for its next statement. Any other state is a connection not fit to use.
_QUIET_STATES = frozenset({pq.TransactionStatus.IDLE, pq.TransactionStatus.INTRANS})


_NEVER_BY_COUNT = 2**31 - 1


class PreparingCursor(base.ServerBindingCursor):
    """Binds its parameters on the server and has every statement prepared: the server parses and plans it on
    this connection's first use, and afterwards only executes it with new values (psycopg names and caches the
    prepared statements per connection)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        """The statement with its values, for logs and ``connection.queries``, also when it ran prepared (psycopg
        then keeps no text of it)."""
        if isinstance(cursor, PreparingCursor):
            try:
                return self.compose_sql(sql, params)
            except psycopg.errors.DataError:
                return None
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    _preparing = False
    # Replaced by a traced subclass when tracing is on (registry_project/private_apis/for_opentelemetry.py).
    preparing_cursor_class: type = PreparingCursor

    def get_connection_params(self):
        params = super().get_connection_params()
        if self.settings_dict.get("PREPARED_STATEMENTS", True) and params.get("prepare_threshold") is None:
            # psycopg prepares nothing while the threshold is None (Django's default). Only a PreparingCursor asks
            # (Django's client-side-binding cursors never prepare), so no other statement is prepared by count.
            params["prepare_threshold"] = _NEVER_BY_COUNT
        return params

    @contextmanager
    def prepared_cursor(self):
        """A cursor for the hot path's fixed statements (``kernel.fastpaths.prepared``, the credential token):
        planning the document lookup cost the server more than running it (0.3 ms against 0.04 ms), and a
        prepared statement is planned once per connection. Everything else keeps Django's client-side binding.
        ``PREPARED_STATEMENTS: False`` in the database settings (``DATABASE_PREPARED_STATEMENTS=false``) turns
        it off, for a transaction-pooling PgBouncer older than 1.21, which cannot keep a session's prepared
        statements. After a rollback psycopg deallocates them all (one more round trip) and they are prepared
        again on their next use."""
        if not self.settings_dict.get("PREPARED_STATEMENTS", True):
            with self.cursor() as cursor:
                yield cursor
            return
        self._preparing = True
        try:
            cursor = self.cursor()
        finally:
            self._preparing = False
        with cursor:
            yield cursor

    def create_cursor(self, name=None):
        if name or not self._preparing:
            return super().create_cursor(name)
        return server_binding_cursor(
            self, self.preparing_cursor_class
        )  # set up as Django's own create_cursor sets up its cursors

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        pgconn = connection.pgconn
        if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status not in _QUIET_STATES:
            return False
        said = _peek(pgconn.socket)
        if said is None:
            return True
        if said == b"" or said == b"E":
            return False
        return super().is_usable()


def _peek(fd: int) -> bytes | None:
    """The first byte waiting on the socket, b"" at end of file or on an error, None when nothing is waiting."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    if not poller.poll(0):
        return None
    sock = None
    try:
        sock = socket.socket(fileno=fd)  # a view of psycopg's socket: detached below, never closed
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return None
    except OSError:
        return b""
    finally:
        if sock is not None:
            sock.detach()
