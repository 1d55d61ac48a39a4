"""Every answer under ``/api/`` is JSON in the one error shape, whatever produced it.

DRF's exception handler shapes what views raise, and ``handler404``/``handler400`` shape Django's own answers
when DEBUG is off. What is left: with DEBUG on (``make run``) Django answers an unmatched URL or a bad Host header
with its HTML debug page, and middleware (CSRF, security) may answer in HTML. This middleware sits outermost and
turns any non-JSON error under ``/api/`` into the error shape, and answers over-long URLs with a JSON 414 before
any view runs.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

from kernel.api.errors import json_error

_CODES = {
    400: "bad_request",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
}


class ApiErrorShapeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        url_length = len(request.path) + len(request.META.get("QUERY_STRING", ""))
        if url_length > settings.MAX_URL_LENGTH:
            return json_error(
                414,
                "uri_too_long",
                f"The URL is {url_length} characters long; at most {settings.MAX_URL_LENGTH} are accepted.",
            )
        response = self.get_response(request)
        if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
            return response
        shaped = json_error(
            response.status_code, _CODES.get(response.status_code, "error"), self.explain(request, response)
        )
        # The answer's own headers still hold (Content-Range on a 416, Allow on a 405, Retry-After, WWW-Authenticate).
        for header, value in response.items():
            if header.lower() not in ("content-type", "content-length"):
                shaped[header] = value
        return shaped

    @staticmethod
    def explain(request: HttpRequest, response: HttpResponse) -> str:
        if response.status_code == 404:
            hint = " (API paths have no trailing slash)" if request.path.endswith("/") else ""
            return f"No such endpoint: {request.path}{hint}"
        if response.status_code == 400:
            try:
                request.get_host()
            except DisallowedHost:
                return "The Host header names a host this server does not serve (ALLOWED_HOSTS)."
        return response.reason_phrase or "Request refused."
