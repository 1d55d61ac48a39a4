"""gunicorn answers some requests before Django runs: a request line over ``limit_request_line`` (414), headers
too large (431), a malformed request line or header (400). Its own answer is an HTML page; this worker class
answers them in the API's one error shape instead:

    gunicorn --worker-class registry_project.gunicorn_errors.JsonErrorSyncWorker registry_project.wsgi:application

Django is not imported here: these answers are written by the gunicorn worker itself, from the socket it holds.
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.workers.sync import SyncWorker

_CODES = {400: "bad_request", 403: "forbidden", 414: "uri_too_long", 417: "expectation_failed", 431: "headers_too_large",
          500: "server_error", 501: "not_implemented"}


def error_document(status_int: int, message: str) -> dict:
    """The shape of ``registry_project.api.errors.error_body``, without importing Django."""
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


# The base worker's handle_error calls ``util.write_error``; this module is imported only by a gunicorn process
# that names the worker class below, so the replacement reaches no other code.
util.write_error = write_json_error


class JsonErrorSyncWorker(SyncWorker):
    """gunicorn's sync worker, answering its own errors (414, 431, 400) as JSON."""
