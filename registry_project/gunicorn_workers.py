"""The gunicorn workers and logger of the registry; ``gunicorn.conf.py`` names ``RegistryThreadWorker`` and
``RegistryLogger``.

**The serving model.** A registry of large files receives bodies that take minutes (the per-file limit is 500 GB)
from clients of any speed, and computes SHA-256 and BLAKE3 while the bytes stream through, so that nothing is
kept unless it matches what the version declares. ``RegistryThreadWorker`` is gunicorn's threaded worker
(``gthread``): a slow upload holds one thread, not a process, and the worker's heartbeat runs on its main thread,
so gunicorn's ``timeout`` never kills a request that is still receiving. Two additions make that safe:

- a worker takes new connections only while it has an idle thread (gunicorn's own worker queues them behind busy
  threads), so the others serve reads and ``/health/live`` while slow uploads occupy some threads;
- every read and write on a client's socket has an idle deadline (``timeout``, default 30 s): a client that sends
  or takes nothing for that long is cut off, its thread freed and its upload discarded (``models_app.artifacts``).
  The deadline bounds silence, never the length of a transfer;
- a connection that ends is closed gracefully (gunicorn lingers up to 2 s reading what the peer still sends, so the
  last answer is not cut by a reset) on its own thread, not on the worker's main loop: there a peer that keeps
  sending after a ``Connection: close`` answer would stop the accepting, the keep-alive polling and the heartbeat
  for 2 s per connection, and fifteen of them would have gunicorn kill the worker with every upload it holds;
- a request's head (request line and headers, a few KB) must arrive within ``timeout`` of its first read, however
  it trickles: otherwise a client sending a header line every few seconds (slowloris) would hold a thread for
  ever, and workers x threads such clients would leave no thread, and no listening worker, for anyone else.

Why not the alternatives: presigned direct-to-S3 uploads would bypass the streaming digest check (the registry
would have to read every object back to verify it) and do not exist for the filesystem store; an async server
runs Django's sync views in a thread pool anyway, and Django's ASGI handler spools a whole body to a temporary
file before the view sees a byte; a buffering proxy (nginx's default) would spool 500 GB to its own disk first.
docs/production.md says how to put a proxy in front.

gunicorn answers some requests before Django runs: a request line over ``limit_request_line`` (414), headers too
large (431), a malformed request line or header (400). Its own answer is an HTML page; these workers answer them in
the API's one error shape instead. Django is not imported here: these answers are written by the gunicorn worker
itself, from the socket it holds.

The workers also send each answer's head and body in one TCP segment (``TCP_CORK``), and ``RegistryLogger`` keeps
gunicorn from building an access line nobody reads.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from registry_project.private_apis.for_gunicorn import LoggerHooks, replace_error_writer

_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    500: "server_error",
    501: "not_implemented",
}


def error_document(status_int: int, message: str) -> dict:
    """The shape of ``kernel.api.errors.error_body``, without importing Django."""
    kind = "validation_error" if status_int == 400 else "server_error" if status_int >= 500 else "client_error"
    code = _CODES.get(status_int, "bad_request")
    return {"type": kind, "errors": [{"code": code, "message": message or "Bad request.", "path": None}]}


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    body = json.dumps(error_document(status_int, mesg[:500])).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin1")
    util.write_nonblock(sock, head + body)


# This module is imported only by a gunicorn process that names the worker class below, so the replacement reaches
# no other code.
replace_error_writer(write_json_error)


class JsonErrorSyncWorker(SyncWorker):
    """gunicorn's sync worker, answering its own errors (414, 431, 400) as JSON."""

    def handle_request(self, listener, req, client, addr):
        """Send the answer's head and body in one segment: gunicorn writes the status line and headers, then the
        body, in two ``send`` calls; each wakes the client, which on a busy host means two context switches
        where one would do. ``TCP_CORK`` holds the bytes until the answer is complete (the kernel also sends a
        full segment at once, and anything held longer than 200 ms); uncorking sends what is held."""
        _cork(client, True)
        try:
            return super().handle_request(listener, req, client, addr)
        finally:
            _cork(client, False)


class RegistryThreadWorker(ThreadWorker):
    """gunicorn's threaded worker that accepts only with an idle thread, gives every client socket an idle deadline
    of ``timeout`` seconds, and answers its own errors as JSON in one segment (see the module's docstring)."""

    busy = 0  # connections handed to the thread pool and not yet finished

    def init_process(self):
        PatientSocket.idle_seconds = self.cfg.timeout or None
        super().init_process()

    def enqueue_req(self, conn):
        if type(conn.sock) is socket.socket:
            conn.sock.__class__ = PatientSocket
        self.busy += 1
        super().enqueue_req(conn)
        self.set_accept_enabled(self._accepting)

    def finish_request(self, conn, fs):
        self.busy -= 1
        super().finish_request(conn, fs)  # may hand the connection back to a thread at once (a pipelined request)
        # A stopping worker (SIGTERM, max_requests) has stopped listening for good: it finishes what it holds within
        # graceful_timeout, and a connection taken now would be cut off at its end instead of reaching a new worker.
        self.set_accept_enabled(self.alive and self.nr_conns < self.worker_connections)

    def set_accept_enabled(self, enabled):
        """gunicorn's run loop asks again every second and after every event, so a worker whose threads are all busy
        stops listening until one is idle; the kernel hands new connections to a worker that listens."""
        super().set_accept_enabled(enabled and self.busy < self.cfg.threads)

    def handle(self, conn):
        _head.reading, _head.until = True, None  # a request head is read next (PatientSocket bounds it)
        try:
            keep = super().handle(conn)
        finally:
            _head.reading = False
        if keep is False and isinstance(conn.sock, PatientSocket):
            # Here rather than in finish_request on the main loop (see the module's docstring); the main loop's
            # own graceful close then finds the socket closed and does nothing.
            util.close_graceful(conn.sock)
        return keep

    def handle_http2(self, conn):
        _head.reading = False  # frames, not a head: the idle deadline alone applies
        return super().handle_http2(conn)

    def handle_request(self, req, conn):
        _head.reading = False  # the head is in: the body streams under the idle deadline alone
        if isinstance(conn.sock, PatientSocket):
            conn.sock.settimeout(PatientSocket.idle_seconds)
        _cork(conn.sock, True)
        try:
            return super().handle_request(req, conn)
        finally:
            _cork(conn.sock, False)


class _HeadBeingRead(threading.local):
    """Whether this worker thread is reading a request's head, and by when (monotonic) it must be complete: set
    at the head's first read, so a keep-alive connection's next request gets a whole ``timeout`` of its own."""

    reading = False
    until: float | None = None


_head = _HeadBeingRead()


class PatientSocket(socket.socket):
    """A client socket that, when gunicorn makes it blocking for a thread to read, gets an idle deadline instead of
    none: each ``recv`` or ``send`` waits at most ``idle_seconds`` (``timeout``), so a silent client or a dropped
    peer frees its thread; and while a request head is read, all its reads together take at most ``idle_seconds``
    (a slowloris head, one line just inside each idle deadline, is cut off too). gunicorn sets the socket back to
    non-blocking for the poller between requests.

    The class of an accepted socket is switched in place (``RegistryThreadWorker.enqueue_req``): the layout is the
    same, and gunicorn (27.0.1) calls ``setblocking(True)`` in ``ThreadWorker.handle`` before reading a request."""

    __slots__ = ()
    idle_seconds: float | None = 30.0

    def setblocking(self, flag: bool) -> None:
        if self.fileno() == -1:
            return  # closed already (RegistryThreadWorker.handle): nothing to set
        if flag:
            self.settimeout(self.idle_seconds)
        else:
            super().setblocking(False)

    def recv(self, *args, **kwargs):
        self._within_head_deadline()
        return super().recv(*args, **kwargs)

    def recv_into(self, *args, **kwargs):
        self._within_head_deadline()
        return super().recv_into(*args, **kwargs)

    def _within_head_deadline(self) -> None:
        if not _head.reading or not self.idle_seconds:
            return
        now = time.monotonic()
        if _head.until is None:
            _head.until = now + self.idle_seconds
        remaining = _head.until - now
        if remaining <= 0:
            raise TimeoutError("the request head did not arrive within the timeout")
        self.settimeout(min(remaining, self.idle_seconds))


def _cork(client, on: bool) -> None:
    try:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1 if on else 0)
    except (AttributeError, OSError):  # not TCP (a Unix socket), not Linux, or already closed: nothing to hold
        pass


class RegistryLogger(LoggerHooks):
    """gunicorn's logger without its access lines. The registry logs each request itself (JSON, with the request
    id and the caller); gunicorn, given a ``logconfig_dict``, would still build its access line's atoms for
    every request and hand them to a logger that drops them."""

    def wants_access_lines(self) -> bool:
        return bool(self.cfg.accesslog)

    def exception(self, msg, *args, **kwargs):
        """A client cut off at its deadline (a silent connection, a head that trickles) is routine, not an error
        with a traceback: one info line each, so a slowloris client cannot fill the error log with tracebacks."""
        if isinstance(sys.exc_info()[1], TimeoutError):
            self.info("Client cut off at its deadline (GUNICORN_TIMEOUT): %s", sys.exc_info()[1])
            return
        super().exception(msg, *args, **kwargs)
