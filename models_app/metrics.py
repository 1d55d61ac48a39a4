"""Artifact gauges for /metrics, read from the database at scrape time: an integrity failure found by the weekly
Celery job shows on every web replica's /metrics (a counter incremented in the worker would only show there)."""

from __future__ import annotations

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily


class ArtifactCollector:
    def describe(self):
        yield GaugeMetricFamily("registry_artifact_files", "", labels=["integrity"])

    def collect(self):
        from models_app.models.artifact_files import ArtifactFile, Integrity

        files = GaugeMetricFamily(
            "registry_artifact_files",
            "Stored artifact files by the outcome of their last integrity check.",
            labels=["integrity"],
        )
        try:
            counts = dict(ArtifactFile.objects.values_list("integrity").annotate(n=Count("pk")).order_by())
        except Exception:  # a scrape must not fail because the database is briefly away
            return
        for state in Integrity.values:
            files.add_metric([state], counts.get(state, 0))
        yield files


def register_collector() -> None:
    from kernel.metrics import register_database_collector

    register_database_collector(ArtifactCollector())
