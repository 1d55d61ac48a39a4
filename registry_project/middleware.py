from __future__ import annotations

from urllib.parse import unquote

from registry_project.api.errors import json_error


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
