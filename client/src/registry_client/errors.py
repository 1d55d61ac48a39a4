"""The registry's error shape as exceptions.

Every 4xx/5xx under ``/api/`` has one body::

    {"type": "validation_error", "errors": [{"code": "out_of_range", "message": "...", "path": "/runtime/x"}]}

``path`` is a JSON Pointer into the document sent, ``parameter`` names a query parameter or header. Each status
gets its own exception class so that callers (and the command line's exit codes) branch on the class, and every
exception keeps the whole list of errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of the ``errors`` list."""

    code: str
    message: str
    path: str | None = None
    parameter: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Any) -> ErrorDetail:
        if not isinstance(raw, dict):
            return cls(code="unknown", message=str(raw))
        return cls(
            code=str(raw.get("code") or "unknown"),
            message=str(raw.get("message") or ""),
            path=raw.get("path"),
            parameter=raw.get("parameter"),
            details=raw.get("details") or {},
        )

    @property
    def where(self) -> str | None:
        """The JSON Pointer, or the parameter's name, that the error points at."""
        return self.path if self.path is not None else self.parameter

    def __str__(self) -> str:
        where = self.where
        return f"{self.code} at {where}: {self.message}" if where else f"{self.code}: {self.message}"


class RegistryError(Exception):
    """Anything the client could not do. ``status`` is the HTTP status (None for a failure without an answer)."""

    status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        errors: list[ErrorDetail] | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.type = type
        self.errors: list[ErrorDetail] = errors or []
        self.response = response

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.errors]

    @property
    def paths(self) -> list[str | None]:
        return [e.where for e in self.errors]

    def __str__(self) -> str:
        if not self.errors:
            return self.message
        return "; ".join(str(e) for e in self.errors)


class ApiError(RegistryError):
    """The registry answered with an error status."""


class InvalidRequest(ApiError):
    """400: an invalid document or parameter; ``errors`` lists every problem with its JSON Pointer."""

    status = 400


class Unauthorized(ApiError):
    """401: no key, a malformed header, an unknown, revoked or expired key."""

    status = 401


class Forbidden(ApiError):
    """403: a read-only key writing, or a user without the permission the write needs."""

    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    """409: the version exists with another spec, the spec is immutable, archived, in use, sealed..."""

    status = 409


class PreconditionFailed(Conflict):
    """412: ``If-Match`` named a version the alias no longer points at (someone moved it first)."""

    status = 412


class PayloadTooLarge(ApiError):
    status = 413


class IdempotencyKeyReused(Conflict):
    """``idempotency_key_reused``: the same Idempotency-Key was sent with another request (a 409; earlier
    builds of the registry answered 422). Chosen by the error's code, whatever the status."""


class RateLimited(ApiError):
    """429 after every retry; ``retry_after`` is the server's last Retry-After in seconds."""

    status = 429

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(ApiError):
    """503 after every retry (the database did not answer; nothing was acknowledged)."""

    status = 503

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """Another 5xx."""


class TransportError(RegistryError):
    """No answer: the connection failed, dropped or timed out on every attempt."""


class DigestMismatch(RegistryError):
    """The bytes sent or received do not have the digest the registry reports (or a file declares)."""

    def __init__(self, message: str, *, expected: dict[str, Any], actual: dict[str, Any]) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class VerificationFailed(RegistryError):
    """An attestation envelope is malformed, or no known key signed it."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    422: IdempotencyKeyReused,
    429: RateLimited,
    503: ServiceUnavailable,
}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: delay-seconds or an HTTP-date (RFC 9110); None when absent or unreadable."""
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for an error answer, with every entry of its ``errors`` list."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors: list[ErrorDetail] = []
    kind = None
    if isinstance(body, dict):
        kind = body.get("type")
        raw = body.get("errors")
        if isinstance(raw, list):
            errors = [ErrorDetail.from_dict(e) for e in raw]
        elif "detail" in body:
            errors = [ErrorDetail(code="error", message=str(body["detail"]))]
    if not errors:
        text = response.text[:200].strip() if response.content else ""
        errors = [ErrorDetail(code=f"http_{response.status_code}", message=text or response.reason_phrase)]
    cls = _BY_STATUS.get(response.status_code) or (ServerError if response.status_code >= 500 else ApiError)
    if any(e.code == "idempotency_key_reused" for e in errors):
        cls = IdempotencyKeyReused
    message = f"{response.request.method} {response.request.url.path}: {response.status_code} " + "; ".join(
        str(e) for e in errors
    )
    kwargs: dict[str, Any] = {"status": response.status_code, "type": kind, "errors": errors, "response": response}
    if cls in (RateLimited, ServiceUnavailable):
        kwargs["retry_after"] = retry_after_seconds(response)
    return cls(message, **kwargs)
