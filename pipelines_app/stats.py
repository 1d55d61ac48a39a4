"""The pipeline registry's part of the statistics snapshot (see ``kernel.stats``)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from kernel.stats import definition_stats

SECTION = "pipelines"


def registry_stats() -> dict:
    from pipelines_app.models import Pipeline

    return definition_stats(Pipeline)


def registry_metrics(section: dict):
    total = GaugeMetricFamily("registry_pipelines_total", "Live pipelines (from the stats snapshot).")
    total.add_metric([], section.get("total", 0))
    return [total]
