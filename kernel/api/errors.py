"""One error shape for every 4xx, API-wide:

    {"type": "validation_error" | "client_error" | "server_error",
     "errors": [{"code": "...", "message": "...", "path": "/json/pointer" | null, "parameter": "name"?}]}

``path`` is a JSON Pointer into the request body; ``parameter`` names a query or URL parameter.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from kernel.exceptions import RegistryError
from kernel.rules.validation import DocumentInvalid, pointer

logger = logging.getLogger(__name__)


class QueryParameterInvalid(exceptions.ValidationError):
    """A bad query or URL parameter: its errors name the ``parameter`` rather than a body ``path``."""


def error_body(status_code: int, errors: list[dict]) -> dict:
    if status_code == 400:
        kind = "validation_error"
    elif status_code >= 500:
        kind = "server_error"
    else:
        kind = "client_error"
    return {"type": kind, "errors": errors}


def json_error(status_code: int, code: str, message: str, **extra) -> JsonResponse:
    """For plain Django views and middleware that answer before DRF runs."""
    return JsonResponse(
        error_body(status_code, [{"code": code, "message": message, "path": None, **extra}]), status=status_code
    )


# The database did not answer (a connection the server ended, a failover, a lock or statement timeout): the
# request could not complete. A 503 with Retry-After, never a 500 (registry_project/middleware.py retries a read
# once on a fresh connection first). A write that meets it may or may not have committed: a client retrying with
# its Idempotency-Key gets the stored answer if it did (kernel/api/idempotency.py).
DATABASE_FAILURES = (OperationalError, InterfaceError)
DATABASE_RETRY_AFTER_SECONDS = 1


def database_unavailable(exc: Exception) -> JsonResponse:
    """The 503 for a request that met a database failure; ``database_failure`` marks it for the read retry."""
    logger.warning(
        "database failure: %s: %s",
        type(exc).__name__,
        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
        extra={"event": "database_unavailable"},
    )
    response = json_error(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "database_unavailable",
        "The database did not answer; nothing is acknowledged. Retry after the time in Retry-After (with the same "
        "Idempotency-Key for a write, so that a write that did complete is answered, not done twice).",
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    response.database_failure = True
    return response


def _flatten(detail, parts: tuple = ()) -> list[tuple[tuple, exceptions.ErrorDetail]]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            out.extend(_flatten(value, parts if key == "non_field_errors" else (*parts, key)))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [(parts, item) for item in detail]
        out = []
        for index, value in enumerate(detail):
            out.extend(_flatten(value, (*parts, index)))
        return out
    return [(parts, detail)]


def _validation_errors(exc: exceptions.ValidationError) -> list[dict]:
    as_parameter = isinstance(exc, QueryParameterInvalid)
    errors = []
    for parts, item in _flatten(exc.detail):
        entry = {"code": getattr(item, "code", None) or "invalid", "message": str(item)}
        if as_parameter:
            entry["parameter"] = ".".join(map(str, parts)) or None
            entry["path"] = None
        else:
            entry["path"] = pointer(*parts) if parts else None
        errors.append(entry)
    return errors


def rejection_code(exc: Exception) -> str | None:
    """The machine code of the first error a 4xx answer to ``exc`` carries (as ``exception_handler`` words it), or
    None when ``exc`` is not answered with a 4xx (a database failure, a bug)."""
    if isinstance(exc, DATABASE_FAILURES):
        return None
    if isinstance(exc, DocumentInvalid):
        return exc.errors[0].code if exc.errors else "invalid"
    if isinstance(exc, RegistryError):
        return exc.code if 400 <= exc.status_code < 500 else None
    if isinstance(exc, Http404):
        return "not_found"
    if isinstance(exc, (DjangoValidationError, exceptions.ValidationError)):
        return "invalid"
    if isinstance(exc, RequestDataTooBig):
        return "too_large"
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        return codes if isinstance(codes, str) else exc.default_code
    return None


def exception_handler(exc, context) -> Response | JsonResponse | None:
    if isinstance(exc, DATABASE_FAILURES):
        return database_unavailable(exc)
    if isinstance(exc, DocumentInvalid):
        return _respond(400, [e.as_dict() for e in exc.errors])
    if isinstance(exc, RegistryError):
        entry = {"code": exc.code, "message": exc.message, "path": exc.path}
        if exc.path and not exc.path.startswith("/"):
            entry = {"code": exc.code, "message": exc.message, "path": None, "parameter": exc.path}
        if exc.details:
            entry["details"] = exc.details
        return _respond(exc.status_code, [entry])
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError(exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        return _respond(413, [{"code": "too_large", "message": str(exc), "path": None}])

    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: Django's handler500 answers with the JSON shape and it is logged

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        errors = _validation_errors(exc)
    else:
        codes = exc.get_codes()
        errors = [
            {"code": codes if isinstance(codes, str) else exc.default_code, "message": str(exc.detail), "path": None}
        ]
    return _respond(exc.status_code, errors, headers)


def _respond(status_code: int, errors: list[dict], headers: dict | None = None) -> Response:
    set_rollback()
    return Response(error_body(status_code, errors), status=status_code, headers=headers)


def handler404(request, exception=None):
    return json_error(status.HTTP_404_NOT_FOUND, "not_found", f"No such endpoint: {request.path}")


def handler400(request, exception=None):
    return json_error(status.HTTP_400_BAD_REQUEST, "bad_request", str(exception) if exception else "Bad request.")


def handler403(request, exception=None):
    return json_error(status.HTTP_403_FORBIDDEN, "permission_denied", "You do not have permission to do this.")


def handler500(request):
    return json_error(status.HTTP_500_INTERNAL_SERVER_ERROR, "server_error", "Internal error; it has been logged.")
