"""gunicorn answers some requests before Django runs: a request line over ``limit_request_line`` (414), headers
too large (431), a malformed request line or header (400). Its own answer is an HTML page; this worker class
answers them in the API's one error shape instead:

    gunicorn --worker-class registry_project.gunicorn_errors.JsonErrorSyncWorker registry_project.wsgi:application

Django is not imported here: these answers are written by the gunicorn worker itself, from the socket it holds.

The worker also sends each answer's head and body in one TCP segment (``TCP_CORK``), and ``RegistryLogger`` keeps
gunicorn from building an access line nobody reads; ``gunicorn.conf.py`` names both.
"""

from __future__ import annotations

import json
import socket

from gunicorn import util
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
