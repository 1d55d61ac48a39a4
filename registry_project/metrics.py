"""Registry gauges for /metrics, read from the stored statistics snapshot (``registry_project.stats``) at scrape
time: one primary-key read per scrape however large the registry is, and every replica reports the same numbers
(nothing is counted in process memory). Beat refreshes the snapshot every ``STATS_REFRESH_SECONDS``."""

from __future__ import annotations

import logging

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

logger = logging.getLogger(__name__)


class RegistryCollector:
    def describe(self):
        # Lets prometheus_client register the collector without running collect() (a query) at import time.
        yield GaugeMetricFamily("registry_versions", "", labels=["kind", "status"])
        yield GaugeMetricFamily("registry_definitions", "", labels=["kind"])

    def collect(self):
        from registry_project import stats

        try:
            snapshot = stats.current()
            families = list(stats.metrics(snapshot))
        except Exception:  # a scrape must not fail because the database is briefly away
            logger.warning("registry gauges skipped: no statistics snapshot", exc_info=True)
            return
        versions = GaugeMetricFamily(
            "registry_versions", "Registered versions of live definitions, by kind and lifecycle status.", labels=["kind", "status"]
        )
        definitions = GaugeMetricFamily("registry_definitions", "Live (not deleted) definitions, by kind.", labels=["kind"])
        for section in snapshot.data.values():
            if not isinstance(section, dict) or "kind" not in section:
                continue
            for status, n in sorted(section.get("versions_by_status", {}).items()):
                versions.add_metric([section["kind"], status], n)
            definitions.add_metric([section["kind"]], section.get("total", 0))
        refreshed = GaugeMetricFamily("registry_stats_refreshed_timestamp_seconds", "When the statistics snapshot was taken.")
        refreshed.add_metric([], snapshot.refreshed_at.timestamp())
        yield versions
        yield definitions
        yield refreshed
        yield from families


_registered = False


def register_collector() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(RegistryCollector())
        _registered = True
