"""A model's side of a comparison of two versions (``kernel.reads.diff``, through ``ModelVersion.comparison``): the
metric deltas, each with the direction that counts as better, and where the two versions sit in lineage."""

from __future__ import annotations

from typing import Any

from models_app.lineage.deltas import compute_deltas
from models_app.lineage.walk import walk
from models_app.models import ModelVersion


def comparison(version: ModelVersion, base: ModelVersion) -> dict[str, Any]:
    return {"metrics": metric_deltas(base, version), "lineage": placement(base, version)}


def metric_deltas(base: ModelVersion, version: ModelVersion) -> dict[str, dict]:
    """For every metric both versions report: both values, the change (absolute, and relative to ``base``'s
    magnitude), which direction counts as better (the ``to`` model's ``metric_directions``, else the
    METRICS_LOWER_IS_BETTER setting) and the verdict. A metric only one side reports is an added or removed field."""
    deltas = compute_deltas(
        base.spec.get("metrics") or {}, version.spec.get("metrics") or {}, version.model.metric_directions
    )
    return {
        name: {
            "from": delta["parent"],
            "to": delta["value"],
            "absolute": delta["absolute"],
            "relative": delta["relative"],
            "better": delta["direction"],
            "improved": delta["improved"],
            "verdict": "improved" if delta["improved"] else "worse" if delta["absolute"] else "unchanged",
        }
        for name, delta in deltas.items()
    }


def _step(row: dict) -> dict:
    return {"id": row["id"], "model": row["model_name"], "version": row["version"], "relation": row["relation"] or None}


def placement(base: ModelVersion, version: ModelVersion) -> dict[str, Any]:
    """How ``version`` (to) stands to ``base`` (from) in lineage: ``same``; ``descendant`` (it derives from it,
    through ``hops`` derivations, listed oldest first in ``path`` with each one's relation); ``ancestor`` (the
    other way round); ``common_ancestor`` (both derive from ``common_ancestor``, the nearest); ``unrelated``.
    Two recursive queries at most, bounded by LINEAGE_MAX_DEPTH."""
    if base.pk == version.pk:
        return {"relation": "same", "hops": 0, "path": []}
    above_to, _ = walk(version, "ancestors")  # baseline first, ``version`` last
    ids_to = [row["id"] for row in above_to]
    if str(base.pk) in ids_to:
        chain = above_to[ids_to.index(str(base.pk)) :]
        return {"relation": "descendant", "hops": len(chain) - 1, "path": [_step(row) for row in chain]}
    above_from, _ = walk(base, "ancestors")
    ids_from = [row["id"] for row in above_from]
    if str(version.pk) in ids_from:
        chain = above_from[ids_from.index(str(version.pk)) :]
        return {"relation": "ancestor", "hops": len(chain) - 1, "path": [_step(row) for row in chain]}
    shared = set(ids_to) & set(ids_from)
    if shared:
        nearest = next(row for row in reversed(above_to) if row["id"] in shared)
        return {"relation": "common_ancestor", "common_ancestor": _step(nearest), "hops": None, "path": []}
    return {"relation": "unrelated", "hops": None, "path": []}
