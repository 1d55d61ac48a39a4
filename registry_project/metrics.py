"""Registry gauges for /metrics, computed from the database at scrape time so every replica reports the same
numbers (nothing is counted in process memory), and the /metrics view itself.

Under gunicorn (``gunicorn.conf.py``) ``PROMETHEUS_MULTIPROC_DIR`` is set: counters and histograms of every worker
live in files there and a scrape, answered by any one worker, merges them all (prometheus_client's multiprocess
mode). The registry gauges are added to that merged view, since they come from the database.
"""

from __future__ import annotations

import os

import prometheus_client
from django.apps import apps
from django.db.models import Count
from django.http import HttpResponse
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, CollectorRegistry

from registry_project.definitions import DefinitionVersion


class RegistryCollector:
    def describe(self):
        # Lets prometheus_client register the collector without running collect() (a query) at import time.
        yield GaugeMetricFamily("registry_versions", "", labels=["kind", "status"])
        yield GaugeMetricFamily("registry_definitions", "", labels=["kind"])

    def collect(self):
        versions = GaugeMetricFamily(
            "registry_versions", "Registered versions of live definitions, by kind and lifecycle status.", labels=["kind", "status"]
        )
        definitions = GaugeMetricFamily("registry_definitions", "Live (not deleted) definitions, by kind.", labels=["kind"])
        for model in apps.get_models():
            if not issubclass(model, DefinitionVersion):
                continue
            parent = model._meta.get_field(model.parent_field).related_model
            try:
                rows = model.objects.of_alive().values("status").annotate(n=Count("pk")).order_by()
                for row in rows:
                    versions.add_metric([parent.kind, row["status"]], row["n"])
                definitions.add_metric([parent.kind], parent.objects.alive().count())
            except Exception:  # a scrape must not fail because the database is briefly away
                continue
        yield versions
        yield definitions


_registered = False


def register_collector() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(RegistryCollector())
        _registered = True


def metrics_view(request) -> HttpResponse:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(RegistryCollector())
    else:
        registry = REGISTRY
    return HttpResponse(prometheus_client.generate_latest(registry), content_type=prometheus_client.CONTENT_TYPE_LATEST)
