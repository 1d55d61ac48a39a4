"""Provider bindings' part of the statistics snapshot (see ``kernel.stats``): bindings by provider and
status, and the average lifetime success rate over the bindings that have served at least
``BINDING_SLO_MIN_SAMPLES`` requests (None when none has: "no data", never 100 %). Two queries."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Avg, Count, F, FloatField
from django.db.models.functions import Cast
from prometheus_client.core import GaugeMetricFamily

SECTION = "bindings"


def registry_stats() -> dict:
    from bindings_app.models import ProviderBinding

    bindings = ProviderBinding.objects.filter(
        model_version__deleted_at__isnull=True, model_version__model__deleted_at__isnull=True
    )
    by_provider_status: dict[str, dict[str, int]] = {}
    total = 0
    for row in bindings.order_by().values("provider", "status").annotate(n=Count("pk")):
        by_provider_status.setdefault(row["provider"], {})[row["status"]] = row["n"]
        total += row["n"]
    rate = bindings.filter(request_count__gte=max(settings.BINDING_SLO_MIN_SAMPLES, 1)).aggregate(
        rate=Avg(Cast(F("success_count"), FloatField()) / Cast(F("request_count"), FloatField()))
    )["rate"]
    return {
        "total": total,
        "by_provider_status": by_provider_status,
        "average_success_rate": round(rate, 6) if rate is not None else None,
    }


def registry_metrics(section: dict):
    bindings = GaugeMetricFamily(
        "registry_bindings_total",
        "Provider bindings of live model versions, by provider and status (from the stats snapshot).",
        labels=["provider", "status"],
    )
    for provider, statuses in sorted(section.get("by_provider_status", {}).items()):
        for status, n in sorted(statuses.items()):
            bindings.add_metric([provider, status], n)
    families = [bindings]
    if section.get("average_success_rate") is not None:
        rate = GaugeMetricFamily(
            "registry_bindings_success_rate", "Average lifetime success rate of bindings with enough samples."
        )
        rate.add_metric([], section["average_success_rate"])
        families.append(rate)
    return families
