"""What the current request is, for the logs and the change log: its id (taken from ``X-Request-ID`` or
generated) lives in a context variable that the request-logging middleware sets, so code far from the view
(a model method writing a change-log entry) can read it without being handed the request."""

from __future__ import annotations

import contextvars
import ipaddress

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current_request_id() -> str:
    """The id of the request being served, or ``""`` outside one (a job, a command)."""
    return request_id.get()


def client_address(request) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind ``TRUSTED_PROXY_COUNT`` reverse proxies that each append
    the address they saw to ``X-Forwarded-For``, the entry the outermost trusted proxy appended (counted from the
    right, so entries a client forges on the left are never read). A header shorter than the proxy count, or an
    entry that is not an IP address, means the request did not come through the proxies: ``REMOTE_ADDR``.

    django-ipware was tried first: its ``proxy_count`` wants exactly count + 1 entries and otherwise falls back to
    the proxy's own address, so one forged entry would put a client back behind the shared address."""
    from django.conf import settings

    remote = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if not count:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "")[:4096].split(",")]
    if len(hops) < count:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-count]))
    except ValueError:
        return remote
