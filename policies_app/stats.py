"""The policy registry's part of the statistics snapshot (see ``kernel.stats``)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from kernel.stats import count_by, definition_stats

SECTION = "policies"


def registry_stats() -> dict:
    from policies_app.models import Policy, PolicyVersion

    # A policy's type is in each version's spec; a policy counts once under every type its live versions have.
    live = PolicyVersion.objects.of_alive().exclude(status="archived")
    return {**definition_stats(Policy), "by_type": count_by(live, "spec__type", distinct="policy")}


def registry_metrics(section: dict):
    total = GaugeMetricFamily(
        "registry_policies_total", "Live policies, by type (from the stats snapshot).", labels=["type"]
    )
    for policy_type, n in sorted(section.get("by_type", {}).items()):
        total.add_metric([policy_type], n)
    return [total]
