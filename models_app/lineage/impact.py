"""Contributors' impact: what an address contributed to, each contribution's weighted share of the improvements,
and the totals over all of them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from models_app.lineage.deltas import shares, tidy
from models_app.models import Contribution


def contributions_of(address: str):
    return (
        Contribution.objects.filter(address=address)
        .select_related("version__model")
        .order_by("-version__created_at", "-pk")
    )


def impact_entry(contribution: Contribution) -> dict:
    version = contribution.version
    return {
        "id": str(version.pk),
        "model": version.model.name,
        "version": version.version,
        "role": contribution.role,
        "weight": contribution.weight,
        "relation": version.relation or None,
        "deltas": dict(sorted(version.deltas.items())),
        "shares": shares(contribution.weight, version.deltas),
    }


def impact_totals(address: str) -> dict:
    """Totals over every contribution of ``address`` (not only one page): per model, the versions contributed
    to and, per metric, how many improved and the sum of the weighted shares. One query, light columns."""
    rows: Iterable = Contribution.objects.filter(address=address).values_list(
        "version__model__name", "weight", "version__deltas"
    )
    per_model: dict[str, dict] = defaultdict(
        lambda: {
            "versions": 0,
            "metrics": defaultdict(lambda: {"improvements": 0, "weighted_absolute": 0.0, "weighted_relative": 0.0}),
        }
    )
    versions = 0
    for model_name, weight, deltas in rows:
        versions += 1
        entry = per_model[model_name]
        entry["versions"] += 1
        for name, share in shares(weight, deltas or {}).items():
            metric = entry["metrics"][name]
            metric["improvements"] += 1
            metric["weighted_absolute"] = tidy(metric["weighted_absolute"] + share["absolute"])
            metric["weighted_relative"] = tidy(metric["weighted_relative"] + (share["relative"] or 0.0))
    return {
        "versions": versions,
        "models": [
            {
                "model": name,
                "versions": entry["versions"],
                "metrics": {k: dict(v) for k, v in sorted(entry["metrics"].items())},
            }
            for name, entry in sorted(per_model.items())
        ],
    }
