"""Registry gauges for /metrics, and the /metrics view itself.

The gauges are read from the stored statistics snapshot (``kernel.stats``) at scrape time: one
primary-key read per scrape however large the registry is, and every replica reports the same numbers (nothing is
counted in process memory). Beat refreshes the snapshot every ``STATS_REFRESH_SECONDS``.

Under gunicorn (``gunicorn.conf.py``) ``PROMETHEUS_MULTIPROC_DIR`` is set: counters and histograms of every worker
live in files there and a scrape, answered by any one worker, merges them all (prometheus_client's multiprocess
mode). The database-backed collectors (``register_database_collector``) are added to that merged view.
"""

from __future__ import annotations

import logging
import os

import prometheus_client
from django.http import HttpResponse
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, CollectorRegistry

logger = logging.getLogger(__name__)


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


def metrics_view(request) -> HttpResponse:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in _database_collectors.values():
            registry.register(collector)
    else:
        registry = REGISTRY
    return HttpResponse(prometheus_client.generate_latest(registry), content_type=prometheus_client.CONTENT_TYPE_LATEST)
