"""What the current request is, for the logs and the change log: its id (taken from ``X-Request-ID`` or
generated) lives in a context variable that the request-logging middleware sets, so code far from the view
(a model method writing a change-log entry) can read it without being handed the request."""

from __future__ import annotations

import contextvars

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current_request_id() -> str:
    """The id of the request being served, or ``""`` outside one (a job, a command)."""
    return request_id.get()
