"""The gateway's routing question: which binding of a model version to call now, every candidate ranked with its
score and its reasons.

A candidate is excluded (score None) when its version is not active (deprecated, which ``deactivate`` is, or
archived), when it is disabled, pending or degraded, in another region or environment than asked, above
``max_cost``, weighted 0, or when the version lacks the asked capability. The rest are ranked by
a score in [0, 1] times ``weight / 100``:

- success: the window's success rate (``ROUTE_NO_DATA_SCORE`` with too few samples);
- latency: the lowest p95 among the ranked candidates divided by this one's (``ROUTE_NO_DATA_SCORE`` with no data);
- cost: the lowest blended price among them divided by this one's (1 for a free binding).

``sort=balanced`` weighs them by ``ROUTE_WEIGHTS`` (settings); ``latency``, ``cost`` and ``success`` use that
score alone. Ties go to the lower binding id, so the same data always gives the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from bindings_app.choices import BindingStatus, RouteSort
from bindings_app.querysets import WindowFigures
from kernel.choices import Lifecycle


@dataclass(frozen=True)
class RouteCriteria:
    region: str | None = None
    environment: str | None = None
    capability: str | None = None
    sort: str = RouteSort.BALANCED
    max_cost: Decimal | None = None


@dataclass
class Candidate:
    binding: object
    figures: WindowFigures
    reasons: list[str] = field(default_factory=list)
    score: float | None = None

    @property
    def excluded(self) -> bool:
        return self.score is None


def _money(value: Decimal) -> str:
    return f"${value.normalize():f}" if value < Decimal("0.01") and value else f"${value:.2f}"


def _exclusions(binding, figures: WindowFigures, criteria: RouteCriteria, model_version) -> list[str]:
    reasons = []
    if model_version.status != Lifecycle.ACTIVE:
        # deactivate is deprecate: a version that is not active is not routable until activate undoes it
        reasons.append(f"excluded: version {model_version.version} is {model_version.status} (activate it to route)")
    if binding.status == BindingStatus.DISABLED:
        reasons.append("excluded: disabled")
    elif binding.status == BindingStatus.PENDING:
        reasons.append("excluded: pending (not enabled yet)")
    elif binding.status == BindingStatus.DEGRADED:
        reasons.append(f"excluded: degraded ({binding.status_reason})")
    if criteria.region and binding.region != criteria.region:
        reasons.append(f"excluded: wrong region ({binding.region}, asked {criteria.region})")
    if criteria.environment and binding.environment != criteria.environment:
        reasons.append(f"excluded: wrong environment ({binding.environment}, asked {criteria.environment})")
    if criteria.capability and criteria.capability not in (model_version.spec.get("capabilities") or []):
        reasons.append(f"excluded: version lacks capability {criteria.capability}")
    if criteria.max_cost is not None and binding.blended_cost > criteria.max_cost:
        reasons.append(f"excluded: cost {_money(binding.blended_cost)}/1k > max {_money(criteria.max_cost)}/1k")
    if binding.weight == 0:
        reasons.append("excluded: weight 0")
    return reasons


def _ranked_reason(binding, figures: WindowFigures) -> str:
    if figures.has_data:
        parts = [f"success {figures.success_rate * 100:.1f} %"]
        parts.append(f"p95 {figures.p95_ms:.0f} ms" if figures.p95_ms is not None else "p95 unknown")
    else:
        parts = [
            f"no data ({figures.samples} of {settings.BINDING_SLO_MIN_SAMPLES} samples over {figures.minutes} min)"
        ]
    parts.append(f"{_money(binding.blended_cost)}/1k")
    return "ranked: " + ", ".join(parts)


def rank(bindings, figures: dict[int, WindowFigures], criteria: RouteCriteria, model_version) -> list[Candidate]:
    """Every binding as a candidate: ranked ones best first, then the excluded ones by id."""
    candidates = []
    for binding in sorted(bindings, key=lambda b: b.pk):
        candidate = Candidate(binding, figures.get(binding.pk, WindowFigures()))
        candidate.reasons = _exclusions(binding, candidate.figures, criteria, model_version)
        candidates.append(candidate)
    ranked = [c for c in candidates if not c.reasons]
    weights = settings.ROUTE_WEIGHTS if criteria.sort == RouteSort.BALANCED else {criteria.sort: 1.0}
    no_data = settings.ROUTE_NO_DATA_SCORE
    p95s = [c.figures.p95_ms for c in ranked if c.figures.p95_ms]
    best_p95 = min(p95s) if p95s else None
    costs = [c.binding.blended_cost for c in ranked]
    best_cost = min(costs) if costs else None
    for candidate in ranked:
        figures, binding = candidate.figures, candidate.binding
        parts = {
            "success": figures.success_rate if figures.has_data else no_data,
            "latency": best_p95 / figures.p95_ms if figures.p95_ms and best_p95 else no_data,
            "cost": float(best_cost / binding.blended_cost) if binding.blended_cost else 1.0,
        }
        total = sum(weights.values())
        score = sum(parts[name] * weight for name, weight in weights.items()) / total
        candidate.score = round(score * binding.weight / 100, 6)
        candidate.reasons = [_ranked_reason(binding, figures)]
    ranked.sort(key=lambda c: (-c.score, c.binding.pk))
    return ranked + [c for c in candidates if c.excluded]
