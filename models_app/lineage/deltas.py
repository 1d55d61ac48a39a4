"""Metric deltas between a version and its parent, and a contributor's weighted share of them."""

from __future__ import annotations

from django.conf import settings


def direction_of(metric: str, overrides: dict | None) -> str:
    if overrides and metric in overrides:
        return overrides[metric]
    return "lower" if metric in settings.METRICS_LOWER_IS_BETTER else "higher"


def tidy(number: float) -> float:
    """Drop floating-point noise (0.874 - 0.85 = 0.02400000000000002) from a stored difference."""
    return float(f"{number:.12g}")


def compute_deltas(before: dict, after: dict, directions: dict | None) -> dict[str, dict]:
    """For every metric both versions report: the parent's value, the new value, the absolute and relative
    (to the parent's magnitude; null when it is 0) change, the metric's direction and whether it improved."""
    deltas = {}
    for name in sorted(before.keys() & after.keys()):
        old, new = before[name], after[name]
        absolute = new - old
        direction = direction_of(name, directions)
        deltas[name] = {
            "parent": old,
            "value": new,
            "absolute": tidy(absolute),
            "relative": tidy(absolute / abs(old)) if old else None,
            "direction": direction,
            "improved": absolute > 0 if direction == "higher" else absolute < 0,
        }
    return deltas


def improvements(deltas: dict) -> list[str]:
    return sorted(name for name, delta in deltas.items() if delta["improved"])


def shares(weight: float, deltas: dict) -> dict[str, dict]:
    """The contributor's weighted share of each improvement (absolute and relative)."""
    return {
        name: {
            "absolute": tidy(weight * delta["absolute"]),
            "relative": tidy(weight * delta["relative"]) if delta["relative"] is not None else None,
        }
        for name, delta in deltas.items()
        if delta["improved"]
    }
