from __future__ import annotations

import re
import uuid
from urllib.parse import unquote

from django.db import connections
from django.http import JsonResponse

from kernel.api.errors import DATABASE_FAILURES, database_unavailable, error_body, json_error
from registry_project import request_context

# A caller's X-Request-ID is kept only when it is a plain token: it ends up in logs and the change log.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIdMiddleware:
    """Every request gets an id, the caller's ``X-Request-ID`` or a new one, for the logs and the change log
    (``request_context.current_request_id()``), and returns it in the ``X-Request-ID`` response header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_context.request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_context.request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


class RejectNulBytesMiddleware:
    """NUL characters in a path or query string are never meaningful and PostgreSQL cannot store or compare
    them; answer 400 before any view or database sees them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw_query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "\x00" in unquote(raw_query) or "%00" in raw_query:
            return json_error(400, "nul_byte", "NUL characters are not allowed in the path or query string.")
        return self.get_response(request)


class RejectEmptyQueryValuesMiddleware:
    """An empty query value under ``/api/`` (``?since=``, ``?limit=``) is a 400 naming the parameter, for every
    endpoint alike: a filter left blank would otherwise mean "no filter" on one endpoint and an error on another,
    and the OpenAPI schema says so once (``minLength: 1`` on every string query parameter)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/") and request.META.get("QUERY_STRING"):
            empty = sorted({name for name, value in request.GET.items() if value == ""})
            if empty:
                return JsonResponse(
                    error_body(
                        400,
                        [
                            {
                                "code": "invalid",
                                "message": "An empty value; leave the parameter out instead.",
                                "path": None,
                                "parameter": name[:64],
                            }
                            for name in empty[:10]
                        ],
                    ),
                    status=400,
                )
        return self.get_response(request)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def close_lost_connections() -> bool:
    """Close every database connection that is no longer usable (the server ended it, the network dropped it),
    so that the next query opens a fresh one. True if there was one."""
    lost = False
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            continue
        if connection.connection is None:
            # Django closes a connection whose rollback failed; errors_occurred stays set until it reconnects.
            lost = lost or connection.errors_occurred
        elif not connection.is_usable():
            connection.close()
            lost = True
    return lost


class DatabaseFailureMiddleware:
    """A request that meets a database failure answers 503 with Retry-After in the error shape, never a 500
    (``kernel.api.errors.database_unavailable``; DRF views answer it from the exception handler, other views from
    ``process_exception`` here). A read (GET, HEAD, OPTIONS) that met a lost connection runs once more on a fresh
    one: reads change nothing, so a second try is safe. A write is never run twice here; its client retries
    (with an Idempotency-Key if it must know whether the first try completed).

    Sits after the metrics and before axes, so a retried read is counted once."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(response, "database_failure", False):
            lost = close_lost_connections()
            if lost and request.method in SAFE_METHODS:
                response = self.get_response(request)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, DATABASE_FAILURES):
            return database_unavailable(exception)
        return None
