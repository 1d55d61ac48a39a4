"""Distributed tracing with OpenTelemetry, configured by the standard ``OTEL_*`` variables and off when they are
unset (docs/operations.md, "Tracing").

``start()`` is called once per process that serves work, after it forked: by gunicorn's ``post_fork`` hook
(``gunicorn.conf.py``) and by Celery's ``worker_process_init`` (or ``worker_init`` for a pool without child
processes; ``registry_project/celery.py``). The SDK's batch span processor runs a thread, and a thread does not
survive ``fork()``, so starting in a parent would leave every child with a processor that never exports.

Without ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_TRACES_EXPORTER`` nothing
is installed: the API's default tracer provider hands out non-recording spans, no instrumentation wraps anything,
and ``current_traceparent()`` answers ``""``.

Once started, the maintained instrumentations make the spans: Django (one server span per request, named by its
route), psycopg (one span per statement), redis (one per command), Celery (a producer span where a task is
published, a consumer span where it runs, the context carried in the message's headers). The registry adds:

- its own attributes on the request span (``response_hook``): ``registry.kind``, ``registry.name``,
  ``registry.version`` and ``registry.api_key.prefix`` (the public prefix; never a key, a secret or a document);
- the trace context through the webhook outbox: the change's ``traceparent`` is stored with its outbox item and
  its deliveries (``kernel/models/webhooks.py``), a lane task is published in the context of the delivery that
  caused it, and each delivery is sent under a client span whose context goes to the receiver as ``traceparent``
  (``kernel/egress.py`` builds the request itself, so it injects the header itself);
- ``trace_id`` and ``span_id`` in every log line written under a span (``add_trace_ids``, registry_project/logs.py).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

logger = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
EXPORTERS = ("otlp", "console", "none")
# A W3C traceparent as this module writes it (version 00); anything else read back is ignored.
TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
TRACEPARENT_MAX = 55

_propagator = TraceContextTextMapPropagator()
_started = False
_lock = threading.Lock()


def configured() -> bool:
    """Whether the environment asks for tracing: an OTLP endpoint, or an exporter other than ``none``, and the SDK
    not disabled (``OTEL_SDK_DISABLED=true``)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def span_exporter():
    name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if name not in EXPORTERS:
        raise ValueError(f"OTEL_TRACES_EXPORTER={name!r} must be one of {', '.join(EXPORTERS)}.")
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    )
    if protocol.strip() not in ("", "http/protobuf"):
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: the registry exports OTLP over http/protobuf only."
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout and compression from OTEL_EXPORTER_OTLP_*


def start() -> bool:
    """Install the tracer provider and the instrumentations in this process, once; True when tracing is on. The
    sampler comes from ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` (the SDK reads them; its default is
    ``parentbased_always_on``), the service name from ``OTEL_SERVICE_NAME`` (default ``ml-registry``), other
    resource attributes from ``OTEL_RESOURCE_ATTRIBUTES``."""
    global _started
    if not configured():
        return False
    with _lock:
        if _started:
            return True
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_project.settings")
        resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or "ml-registry"})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(span_exporter()))
        trace.set_tracer_provider(provider)
        _instrument(provider)
        _started = True
    logger.info("tracing started", extra={"event": "tracing_started"})
    return True


def _instrument(provider) -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    from registry_project.private_apis import for_opentelemetry

    # Django's middleware list is read when the WSGI handler is built: this runs before (post_fork, then the
    # worker loads the application).
    DjangoInstrumentor().instrument(tracer_provider=provider, response_hook=registry_attributes)
    PsycopgInstrumentor().instrument(tracer_provider=provider)
    for_opentelemetry.trace_prepared_cursors(provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    CeleryInstrumentor().instrument(tracer_provider=provider)


def started() -> bool:
    return _started


def shutdown() -> None:
    """Export what is buffered before the process exits (gunicorn's ``worker_exit``, Celery's
    ``worker_process_shutdown``)."""
    provider = trace.get_tracer_provider()
    if _started and hasattr(provider, "shutdown"):
        provider.shutdown()


tracer = trace.get_tracer("registry")


def registry_attributes(span, request, response) -> None:
    """The registry's attributes on a request's span: what the request was about (kind, name, version from the
    URL, or from a registration's answer) and which API key made it (its public prefix). Never the document, a
    key or a secret."""
    if not span.is_recording():
        return
    match = getattr(request, "resolver_match", None)
    kwargs = getattr(match, "kwargs", None) or {}
    context = getattr(response, "renderer_context", None) or {}
    view = context.get("view")
    kind = getattr(getattr(view, "definition_model", None), "kind", None)
    name, version = kwargs.get("name"), kwargs.get("version")
    data = getattr(response, "data", None)
    if 200 <= response.status_code < 300 and isinstance(data, dict) and kind:
        name = name or data.get("name")
        version = version or data.get("version")
    for key, value in (("kind", kind), ("name", name), ("version", version)):
        if isinstance(value, str) and value:
            span.set_attribute(f"registry.{key}", value[:128])
    api_key = getattr(context.get("request"), "_auth", None)
    prefix = getattr(api_key, "prefix", None)
    if isinstance(prefix, str) and prefix:
        span.set_attribute("registry.api_key.prefix", prefix)


def current_traceparent() -> str:
    """The W3C ``traceparent`` of the current span, or ``""`` when there is no sampled span to continue (tracing
    off, or a request the sampler left out): what a change stores for its webhook deliveries."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid or not span_context.trace_flags.sampled:
        return ""
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{int(span_context.trace_flags):02x}"


def context_of(traceparent: str):
    """The OpenTelemetry context a stored ``traceparent`` continues, or None for ``""`` or a malformed value."""
    if not traceparent or not TRACEPARENT.fullmatch(traceparent):
        return None
    context = _propagator.extract({"traceparent": traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


@contextmanager
def continuing(traceparent: str) -> Iterator[None]:
    """Run the block in the trace ``traceparent`` names (stored with a change); as it is, for ``""``."""
    context = context_of(traceparent) if _started else None
    if context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def span_continuing(name: str, traceparent: str, attributes: dict) -> Iterator[trace.Span]:
    """A client span for work done on behalf of a stored change (a webhook delivery): a child of the current span
    when that is already in the change's trace (the lane task was published in it), else a child of the stored
    context with a link to the current span (the task that did the work), or of the current span alone when
    nothing was stored."""
    parent = context_of(traceparent) if _started else None
    links = []
    if parent is not None:
        stored = trace.get_current_span(parent).get_span_context()
        here = trace.get_current_span().get_span_context()
        if here.is_valid and here.trace_id == stored.trace_id:
            parent = None
        elif here.is_valid:
            links.append(Link(here))
    with tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.CLIENT, attributes=attributes, links=links
    ) as span:
        yield span


def inject(headers: dict[str, str]) -> None:
    """Add ``traceparent`` (and ``tracestate``) for the current span to outgoing ``headers``."""
    _propagator.inject(headers)


def add_trace_ids(logger, method_name: str, event_dict: dict) -> dict:
    """structlog processor: ``trace_id`` and ``span_id`` (hex, as tracing backends show them) on every line written
    under a span, so a log line leads to its trace and back."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict.setdefault("trace_id", f"{span_context.trace_id:032x}")
        event_dict.setdefault("span_id", f"{span_context.span_id:016x}")
    return event_dict
