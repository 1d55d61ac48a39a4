"""A JSON parser that turns every malformed body into a 400/413 with a message, never a 500.

It bounds the body size itself (DRF reads the request stream directly, bypassing Django's
DATA_UPLOAD_MAX_MEMORY_SIZE check), rejects NaN/Infinity and NUL characters (PostgreSQL's JSONB cannot store
them), bounds nesting depth without recursion, and refuses what no endpoint could store or echo back: integers
beyond 2^53 - 1 that are not a double's shortest form, and lone surrogates (``unstorable_values``, which document
validation runs too), each with its path.
"""

from __future__ import annotations

import json
import math
from itertools import islice

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser

from kernel.rules.validation import MAX_ISSUES, DocumentInvalid, capped, pointer, unstorable_values


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def reject_json_constant(name: str):
    """``json.loads``'s ``parse_constant``: NaN, Infinity and -Infinity are not JSON, so a body or file holding
    one is refused (the request parser and the import of document files alike)."""
    raise ValueError(f"{name} is not valid JSON")


def check_json_value(data) -> None:
    """Walk the parsed value iteratively; raise ParseError at the first node too deep or unstorable."""
    limit = settings.MAX_JSON_DEPTH
    stack: list[tuple[object, tuple, int]] = [(data, (), 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                raise exceptions.ParseError(f"JSON is nested deeper than {limit} levels (at {pointer(*path) or '/'}).")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in items:
                if isinstance(key, str) and "\x00" in key:
                    raise exceptions.ParseError(
                        f"NUL characters are not allowed (in a key at {pointer(*path) or '/'})."
                    )
                stack.append((child, (*path, key), depth + 1))
        elif isinstance(value, str):
            if "\x00" in value:
                raise exceptions.ParseError(f"NUL characters are not allowed (at {pointer(*path) or '/'}).")
        elif isinstance(value, float) and not math.isfinite(value):
            raise exceptions.ParseError(f"Numbers must be finite (at {pointer(*path) or '/'}).")


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes (MAX_REQUEST_BYTES).")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError(f"The body is not valid UTF-8 (byte {exc.start}).") from None
        try:
            data = json.loads(text, parse_constant=reject_json_constant)
        except json.JSONDecodeError as exc:
            raise exceptions.ParseError(
                f"Malformed JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            ) from None
        except RecursionError:
            raise exceptions.ParseError(f"JSON is nested deeper than {settings.MAX_JSON_DEPTH} levels.") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}.") from None
        check_json_value(data)
        unstorable = list(islice(unstorable_values(data), MAX_ISSUES + 1))
        if unstorable:
            raise DocumentInvalid(capped(unstorable))
        return data
