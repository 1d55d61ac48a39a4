"""``Idempotency-Key`` for the writes that clients retry (Stripe's convention), once for every view: decorate
the view method with ``@idempotent``.

A POST or PUT with the header runs in one transaction with the claim of its key (kernel/models/idempotency.py)
and the storing of its answer: the answer is built from what the transaction wrote, and the work, the key and
the answer commit together. The same key again with the same request (same user, method, path and body) answers
the stored status and body with ``Idempotent-Replayed: true`` and does nothing; with another request it is a 409
naming the header. Without the header the view runs as it always did.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re

from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter
from rest_framework.utils.encoders import JSONEncoder

from kernel.exceptions import Conflict, RegistryError
from kernel.models.idempotency import KEY_PATTERN, IdempotencyKey

HEADER = "Idempotency-Key"
METHODS = frozenset({"POST", "PUT"})
# Headers of an answer that a replay gives back too.
KEPT_HEADERS = ("Location", "ETag")
_key_re = re.compile(KEY_PATTERN)

PARAMETER = OpenApiParameter(
    HEADER,
    {"type": "string", "pattern": rf"^{KEY_PATTERN}\Z"},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "A key of your choice (at most 255 printable ASCII characters, e.g. a UUID) naming this request. Sent again "
        "with the same request within 24 hours (IDEMPOTENCY_KEY_HOURS), it answers the stored response "
        "(`Idempotent-Replayed: true`) without doing the work again; with another request it is a 409. Only "
        "successful answers are stored. Retry with the same key after a 503, a timeout or a dropped connection."
    ),
)


class IdempotencyKeyReused(Conflict):
    """409, as Stripe answers a key in use: the key is the registry's state, which this request contradicts."""

    code = "idempotency_key_reused"


def fingerprint(request) -> str:
    """SHA-256 of the method, the full path and the parsed body (two bodies that parse alike are one request)."""
    body = json.dumps(request.data, cls=JSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = f"{request.method}\n{request.get_full_path()}\n{body}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _replay(row: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(row.body, status=row.status_code, content_type="application/json")
    for header, value in row.headers.items():
        response[header] = value
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(view_method):
    """Run a write view under its request's Idempotency-Key, if it has one (see the module's doc)."""

    @functools.wraps(view_method)
    def run(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if request.method not in METHODS or key is None:
            return view_method(view, request, *args, **kwargs)
        if not _key_re.fullmatch(key):
            raise RegistryError(
                f"{HEADER} must be 1 to 255 printable ASCII characters without spaces (a UUID, for example).",
                code="invalid_header",
                path=HEADER,
            )
        digest = fingerprint(request)
        with transaction.atomic():
            row, mine = IdempotencyKey.objects.claim(request.user, key, digest)
            if not mine:
                if row.fingerprint != digest:
                    raise IdempotencyKeyReused(
                        f"This {HEADER} was used for another request (method, path or body) in the last "
                        "IDEMPOTENCY_KEY_HOURS; send a new key for a new request.",
                        path=HEADER,
                    )
                return _replay(row)
            response = view_method(view, request, *args, **kwargs)
            if not 200 <= response.status_code < 300:
                transaction.set_rollback(True)  # an error answer leaves no trace, its key included
                return response
            row.status_code = response.status_code
            row.body = json.dumps(response.data, cls=JSONEncoder, ensure_ascii=False, allow_nan=False)
            row.headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
            row.save(update_fields=["status_code", "body", "headers"])
        return response

    run.idempotent = True
    return run


def is_idempotent(view, method: str) -> bool:
    """Whether the view method serving ``method`` (its action, for a viewset) takes the header."""
    if method.upper() not in METHODS:
        return False
    handler = getattr(view, getattr(view, "action", None) or method.lower(), None)
    return getattr(handler, "idempotent", False)
