"""Django REST framework's private APIs, each behind one function. Read in DRF 3.18.3."""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.utils.mediatypes import _MediaType


def leave_unauthenticated(request: Request) -> None:
    """Leave ``request`` as DRF leaves one whose credentials were refused (the anonymous user, no auth), for a key
    that a later check refused after the request was let in.

    Relies on ``Request._not_authenticated()`` (DRF 3.18.3), which ``Request._authenticate`` calls itself."""
    request._not_authenticated()


def django_request(request: Request) -> HttpRequest:
    """The ``HttpRequest`` a DRF ``Request`` wraps (to read its body as a stream, or parse it with Django's own
    multipart parser).

    Relies on ``Request._request`` (DRF 3.18.3; the DRF docs name it as the way to reach the HttpRequest)."""
    return request._request


def media_type_params(media_type: str) -> dict:
    """The parameters of a media type (``application/json; indent=4`` -> ``{"indent": "4"}``), as DRF's
    renderers read them.

    Relies on ``rest_framework.utils.mediatypes._MediaType`` and its ``params`` dict (DRF 3.18.3)."""
    return _MediaType(media_type).params
