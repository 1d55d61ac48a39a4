"""Registry gauges for /metrics, and the /metrics view itself.

The gauges are read from the stored statistics snapshot (``kernel.stats``) at scrape time: one
primary-key read per scrape however large the registry is, and every replica reports the same numbers (nothing is
counted in process memory). Beat refreshes the snapshot every ``STATS_REFRESH_SECONDS``.

Under gunicorn (``gunicorn.conf.py``) ``PROMETHEUS_MULTIPROC_DIR`` is set: counters and histograms of every worker
live in files there and a scrape, answered by any one worker, merges them all (prometheus_client's multiprocess
mode). The database-backed collectors (``register_database_collector``) are added to that merged view.

The request and domain metrics below are counted where they happen (docs/operations.md, "Metrics reference"). What
Celery workers count goes to the database instead (``kernel.models.tallies``; ``TallyCollector`` reads it), since a
worker may run on another machine than any web worker's /metrics; the webhook outbox's backlog is read from its
tables at scrape time (``OutboxCollector``).
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections import defaultdict
from contextvars import ContextVar

import prometheus_client
from django.http import HttpResponse
from prometheus_client import Counter, Histogram, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import REGISTRY, CollectorRegistry

logger = logging.getLogger(__name__)

SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_DB_QUERIES = Histogram(
    "registry_request_db_queries",
    "Database statements per request, by route (the URL pattern's name).",
    ["route"],
    buckets=(0, 1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 100),
)
REQUEST_DB_SECONDS = Histogram(
    "registry_request_db_duration_seconds",
    "Time spent in database statements per request, by route.",
    ["route"],
    buckets=SECONDS_BUCKETS,
)
REGISTRATIONS = Counter(
    "registry_registrations",
    "Registration requests answered with a version: created (201) or retry (200, the same spec again), by kind.",
    ["kind", "outcome"],
)
REJECTIONS = Counter(
    "registry_rejections",
    "Registration requests refused with a 4xx, by kind and the first error's code.",
    ["kind", "code"],
)
ARTIFACT_UPLOADED_BYTES = Counter("registry_artifact_uploaded_bytes", "Bytes of artifact files stored by uploads.")
ARTIFACT_SERVED_BYTES = Counter("registry_artifact_served_bytes", "Bytes of artifact files sent to clients.")
ARTIFACT_UPLOAD_SECONDS = Histogram(
    "registry_artifact_upload_duration_seconds",
    "Time from an upload's first byte to its file being stored (successful uploads).",
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0),
)
RATE_LIMITED = Counter(
    "registry_rate_limited", "Requests refused with 429 by the rate limits, by bucket (api, check).", ["scope"]
)
for _scope in ("api", "check"):
    # Each series exists at 0 from a worker's start: rate() cannot see a series whose first sample is already its
    # first refusals (the dashboard's rate-limit panel stayed flat through 157 of them).
    RATE_LIMITED.labels(_scope)
CELERY_TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
# Database-backed families (kernel.models.tallies): histograms by name with their buckets; the rest are counters.
TALLY_HISTOGRAMS = {"registry_celery_task_duration_seconds": CELERY_TASK_BUCKETS}
TALLY_HELP = {
    "registry_celery_task_duration_seconds": "Celery task run time in the workers, by task.",
    "registry_celery_task_failures": "Celery task runs that raised, by task.",
    "registry_webhook_deliveries": "Webhook delivery attempts by outcome: delivered, failed (retried later), "
    "gave_up (the last attempt failed: a dead letter).",
}

# An error code becomes a label only when it looks like one of ours (every code is a constant in the code, never
# taken from input); anything else is "other", so no request can grow the label set.
CODE_LABEL = re.compile(r"[a-z][a-z0-9_]{0,47}")


def code_label(code) -> str:
    return code if isinstance(code, str) and CODE_LABEL.fullmatch(code) else "other"


# The statements of the request being served: [count, seconds], or None outside a request.
_statements: ContextVar[list | None] = ContextVar("request_statements", default=None)


def count_statement(execute, sql, params, many, context):
    """A database execute wrapper (``connection.execute_wrappers``, installed on every connection): counts the
    request's statements and their time, in memory, for ``RequestMetricsMiddleware``."""
    tally = _statements.get()
    if tally is None:
        return execute(sql, params, many, context)
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        tally[0] += 1
        tally[1] += time.perf_counter() - started


def watch_statements(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: put ``count_statement`` on the new connection, once."""
    if count_statement not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, count_statement)


class RequestMetricsMiddleware:
    """Observes each request's database statements and their time, by route: no query of its own, two histogram
    observations per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tally = [0, 0.0]
        token = _statements.set(tally)
        try:
            return self.get_response(request)
        finally:
            _statements.reset(token)
            match = getattr(request, "resolver_match", None)
            route = getattr(match, "view_name", None) or "unresolved"
            REQUEST_DB_QUERIES.labels(route).observe(tally[0])
            REQUEST_DB_SECONDS.labels(route).observe(tally[1])


class RegistryCollector:
    def describe(self):
        # Lets prometheus_client register the collector without running collect() (a query) at import time.
        yield GaugeMetricFamily("registry_versions", "", labels=["kind", "status"])
        yield GaugeMetricFamily("registry_definitions", "", labels=["kind"])

    def collect(self):
        from kernel import stats

        try:
            snapshot = stats.current()
            families = list(stats.metrics(snapshot))
        except Exception:  # a scrape must not fail because the database is briefly away
            logger.warning("registry gauges skipped: no statistics snapshot", exc_info=True)
            return
        versions = GaugeMetricFamily(
            "registry_versions",
            "Registered versions of live definitions, by kind and lifecycle status.",
            labels=["kind", "status"],
        )
        definitions = GaugeMetricFamily(
            "registry_definitions", "Live (not deleted) definitions, by kind.", labels=["kind"]
        )
        for section in snapshot.data.values():
            if not isinstance(section, dict) or "kind" not in section:
                continue
            for status, n in sorted(section.get("versions_by_status", {}).items()):
                versions.add_metric([section["kind"], status], n)
            definitions.add_metric([section["kind"]], section.get("total", 0))
        refreshed = GaugeMetricFamily(
            "registry_stats_refreshed_timestamp_seconds", "When the statistics snapshot was taken."
        )
        refreshed.add_metric([], snapshot.refreshed_at.timestamp())
        yield versions
        yield definitions
        yield refreshed
        yield from families


class OutboxCollector:
    """The webhook outbox's backlog, read at scrape time: changes not yet relayed plus deliveries still pending for
    active subscriptions, and how long the oldest of them has waited (0 when none)."""

    def describe(self):
        yield GaugeMetricFamily("registry_webhook_outbox_backlog", "")
        yield GaugeMetricFamily("registry_webhook_outbox_oldest_pending_age_seconds", "")

    def collect(self):
        from django.db.models import Count, Min
        from django.utils import timezone

        from kernel.models.webhooks import DeliveryStatus, OutboxItem, WebhookDelivery

        try:
            outbox = OutboxItem.objects.aggregate(n=Count("pk"), oldest=Min("entry__at"))
            pending = WebhookDelivery.objects.filter(
                status=DeliveryStatus.PENDING, subscription__active=True
            ).aggregate(n=Count("pk"), oldest=Min("created_at"))
        except Exception:  # a scrape must not fail because the database is briefly away
            logger.warning("webhook outbox gauges skipped", exc_info=True)
            return
        oldest = min((at for at in (outbox["oldest"], pending["oldest"]) if at is not None), default=None)
        backlog = GaugeMetricFamily(
            "registry_webhook_outbox_backlog",
            "Webhook work waiting: changes not yet relayed plus deliveries pending for active subscriptions.",
        )
        backlog.add_metric([], outbox["n"] + pending["n"])
        age = GaugeMetricFamily(
            "registry_webhook_outbox_oldest_pending_age_seconds",
            "How long the oldest waiting change or delivery has waited; 0 when nothing waits.",
        )
        age.add_metric([], max(0.0, (timezone.now() - oldest).total_seconds()) if oldest else 0.0)
        yield backlog
        yield age


class TallyCollector:
    """What Celery workers counted in the database (``kernel.models.tallies``), as counters and histograms."""

    def describe(self):
        return []

    def collect(self):
        from kernel.models.tallies import Tally

        try:
            rows = list(Tally.objects.values_list("name", "labels", "value"))
        except Exception:  # a scrape must not fail because the database is briefly away
            logger.warning("database tallies skipped", exc_info=True)
            return
        yield from tally_families(rows)


def tally_families(rows) -> list:
    """Metric families from tally rows ``(name, labels JSON, value)``."""
    import json

    counters: dict[str, list] = defaultdict(list)
    histograms: dict[str, dict] = defaultdict(lambda: defaultdict(lambda: {"buckets": {}, "sum": 0.0}))
    for name, labels, value in rows:
        labels = json.loads(labels)
        base = next((h for h in TALLY_HISTOGRAMS if name.startswith(h + "_")), None)
        if base is None:
            counters[name.removesuffix("_total")].append((labels, value))
            continue
        le = labels.pop("le", None)
        series = histograms[base][tuple(sorted(labels.items()))]
        if name.endswith("_bucket") and le is not None:
            series["buckets"][math.inf if le == "+Inf" else float(le)] = value
        elif name.endswith("_sum"):
            series["sum"] = value
    families = []
    for name, series_list in sorted(counters.items()):
        label_names = sorted({key for labels, _ in series_list for key in labels})
        family = CounterMetricFamily(name, TALLY_HELP.get(name, name), labels=label_names)
        for labels, value in series_list:
            family.add_metric([labels.get(key, "") for key in label_names], value)
        families.append(family)
    for name, by_labels in sorted(histograms.items()):
        label_names = sorted({key for labels in by_labels for key, _ in labels})
        family = HistogramMetricFamily(name, TALLY_HELP.get(name, name), labels=label_names)
        for labels, series in sorted(by_labels.items()):
            running, buckets = 0.0, []
            for bound in [*TALLY_HISTOGRAMS[name], math.inf]:
                running += series["buckets"].get(float(bound), 0.0)
                buckets.append(
                    ("+Inf" if bound == math.inf else prometheus_client.utils.floatToGoString(bound), running)
                )
            family.add_metric([dict(labels).get(key, "") for key in label_names], buckets, series["sum"])
        families.append(family)
    return families


# Collectors that read the database at scrape time (one per app that has any); each is registered once.
_database_collectors: dict[str, object] = {}


def register_database_collector(collector) -> None:
    """Serve ``collector`` on /metrics, in the per-process registry and in the multiprocess view alike."""
    name = type(collector).__name__
    if name not in _database_collectors:
        _database_collectors[name] = collector
        REGISTRY.register(collector)


def register_collector() -> None:
    from kernel.jobs import JobCollector

    register_database_collector(RegistryCollector())
    register_database_collector(JobCollector())
    register_database_collector(OutboxCollector())
    register_database_collector(TallyCollector())


def metrics_view(request) -> HttpResponse:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in _database_collectors.values():
            registry.register(collector)
    else:
        registry = REGISTRY
    return HttpResponse(prometheus_client.generate_latest(registry), content_type=prometheus_client.CONTENT_TYPE_LATEST)
