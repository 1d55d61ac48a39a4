"""Logs an operator can use: structlog renders every record, the registry's own and those of Django, Celery and
the other libraries' standard loggers, either as one JSON object per line (``LOG_FORMAT=json``, the production
default) or as readable lines (``LOG_FORMAT=console``, the default with ``DEBUG=true``).

Every line has ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``event`` and, inside a request, the
``request_id`` that ``RequestIdMiddleware`` took from ``X-Request-ID`` or generated; with tracing on, every line
written under a span (a request, a task) has its ``trace_id`` and ``span_id`` (registry_project/tracing.py). Two kinds of lines come from
here: one ``request_finished`` access line per request (``AccessLogMiddleware``) and one line per committed
registry write (``log_write``: ``model_registered``, ``policy_version_activated``, ...).
"""

from __future__ import annotations

import logging
import time

import structlog
from django.db import transaction
from django.utils.functional import empty

from registry_project import tracing
from registry_project.request_context import current_request_id

FORMATS = ("json", "console")


def add_request_id(logger, method_name: str, event_dict: dict) -> dict:
    # django.request logs a 4xx after the middleware has left the request; its record still carries the request.
    request = getattr(event_dict.get("_record"), "request", None)
    request_id = current_request_id() or getattr(request, "request_id", "")
    if request_id:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def name_stdlib_events(logger, method_name: str, event_dict: dict) -> dict:
    """A standard-library record logged with ``extra={"event": "redis_unavailable"}`` keeps that machine-readable
    name as ``event`` and its text as ``message``; other records' text is the event."""
    record = event_dict.get("_record")
    named = getattr(record, "event", None)
    if record is not None and not event_dict.get("_from_structlog") and isinstance(named, str):
        event_dict["message"], event_dict["event"] = event_dict["event"], named
    return event_dict


SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    add_request_id,
    tracing.add_trace_ids,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def formatter(log_format: str = "json") -> structlog.stdlib.ProcessorFormatter:
    """The logging formatter ``settings.LOGGING`` names (``"()": "registry_project.logs.formatter"``). Building it
    also points structlog's own loggers at the standard library, so both go through the same handlers."""
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT={log_format!r} must be one of {', '.join(FORMATS)}.")
    structlog.configure(
        processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    if log_format == "json":
        # Tracebacks become a string field of the same object, so one record stays one line.
        renderer = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*SHARED_PROCESSORS, name_stdlib_events],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )


def use_registry_logging(loglevel: int | str | None = None) -> None:
    """Log in a Celery worker or beat as the web process does: ``settings.LOGGING`` applied by the function
    ``django.setup()`` applies it with, so every line is this module's format (JSON lines in production), and the
    level Celery's ``--loglevel`` gave. Python warnings (Celery's "running as root") become log lines too.
    ``registry_project.celery`` calls this from Celery's ``celeryd_init`` and ``setup_logging`` signals: a
    receiver of ``setup_logging`` also stops Celery from installing its own plain-text handler."""
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    logging.captureWarnings(True)
    if loglevel:
        logging.getLogger().setLevel(loglevel.upper() if isinstance(loglevel, str) else loglevel)


def bind_task(task_id: str | None = None, task=None, **_) -> None:
    """Celery's ``task_prerun``: every line logged while the task runs, Celery's own "succeeded" line included,
    carries ``task_name`` and ``task_id``."""
    structlog.contextvars.bind_contextvars(task_id=task_id, task_name=getattr(task, "name", None))


def unbind_task(**_) -> None:
    """Celery's ``task_postrun``: the worker's next lines belong to no task."""
    structlog.contextvars.unbind_contextvars("task_id", "task_name")


access_log = structlog.get_logger("registry.access")
write_log = structlog.get_logger("registry.writes")


def log_write(action: str, definition, version: str = "") -> None:
    """Log a registry write (``<kind>_<action>`` with kind, name and version) once its transaction commits, so a
    rolled-back write logs nothing. Called by the shared definitions code for every kind."""
    event = f"{definition.kind}_{action}"
    fields = {"kind": definition.kind, "name": definition.name, "version": version}
    transaction.on_commit(lambda: write_log.info(event, **fields))


class AccessLogMiddleware:
    """One ``request_finished`` line per request: method, path, status, duration_ms and who called (``user``, and
    ``api_key`` with the key's public prefix when one was used). Sits inside ``RequestIdMiddleware``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = current_request_id()
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        level = (
            logging.ERROR
            if response.status_code >= 500
            else logging.WARNING
            if response.status_code >= 400
            else logging.INFO
        )
        access_log.log(
            level,
            "request_finished",
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=duration_ms,
            **caller(request, response),
        )
        return response


def caller(request, response) -> dict:
    """Who made the request, as far as serving it found out (never a lookup just for the log)."""
    found = {}
    drf_request = (getattr(response, "renderer_context", None) or {}).get("request")
    # What authentication set, if it ran: DRF's ``auth`` would authenticate now, for a request answered before it
    # (a 406), and a refused key would raise here.
    api_key = getattr(drf_request, "_auth", None)
    if hasattr(api_key, "prefix"):
        found["api_key"] = api_key.prefix
    user = getattr(request, "user", None)
    if getattr(user, "_wrapped", None) is empty:  # a lazy session user nobody needed: leave it unresolved
        user = None
    if user is not None and user.is_authenticated:
        found["user"] = user.get_username()
    return found
