from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Sum
from django.utils import timezone

from bindings_app import latency
from bindings_app.choices import IN_SERVICE


def window_start(now: dt.datetime) -> dt.datetime:
    """The first slice start inside the window ending at ``now``: the current slice and the ones before it, whole
    slices only (see bindings_app.latency for what that does to the window's length)."""
    slice_seconds = settings.BINDING_SLICE_SECONDS
    current = slice_start(now)
    return current - dt.timedelta(seconds=settings.BINDING_WINDOW_MINUTES * 60 - slice_seconds)


def slice_start(moment: dt.datetime) -> dt.datetime:
    seconds = settings.BINDING_SLICE_SECONDS
    epoch = int(moment.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, tz=dt.UTC)


@dataclass
class WindowFigures:
    """A binding's live figures over the window. Below ``BINDING_SLO_MIN_SAMPLES`` reports they are "no data":
    success rate and latencies are None, never 100 % or 0 ms."""

    samples: int = 0
    successes: int = 0
    histogram: dict[int, int] = field(default_factory=dict)

    @property
    def minutes(self) -> int:
        return settings.BINDING_WINDOW_MINUTES

    @property
    def has_data(self) -> bool:
        return self.samples >= settings.BINDING_SLO_MIN_SAMPLES

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.samples if self.has_data else None

    def latency(self, q: float) -> float | None:
        return latency.quantile(self.histogram.items(), q) if self.has_data else None

    @property
    def p50_ms(self) -> float | None:
        return self.latency(0.50)

    @property
    def p95_ms(self) -> float | None:
        return self.latency(0.95)

    def as_dict(self) -> dict:
        p50, p95 = self.p50_ms, self.p95_ms
        return {
            "state": "ok" if self.has_data else "no data",
            "window_minutes": self.minutes,
            "samples": self.samples,
            "min_samples": settings.BINDING_SLO_MIN_SAMPLES,
            "success_rate": round(self.success_rate, 6) if self.has_data else None,
            "latency_p50_ms": round(p50, 1) if p50 is not None else None,
            "latency_p95_ms": round(p95, 1) if p95 is not None else None,
        }


class BindingQuerySet(models.QuerySet):
    def with_version(self) -> BindingQuerySet:
        return self.select_related("model_version__model")

    def in_service(self) -> BindingQuerySet:
        return self.filter(status__in=IN_SERVICE)

    def of_model(self, name: str) -> BindingQuerySet:
        return self.filter(model_version__model__name=name)

    def route(self, model_version, criteria) -> list:
        """Every binding of ``model_version`` as a ranked candidate (bindings_app.routing): two queries, the
        bindings and their window figures, however many bindings there are."""
        from bindings_app.models import BindingSample
        from bindings_app.routing import rank

        bindings = list(self.filter(model_version=model_version).order_by("id"))
        figures = BindingSample.objects.figures([b.pk for b in bindings])
        return rank(bindings, figures, criteria, model_version)

    def with_success_rate_at_least(self, rate: float) -> BindingQuerySet:
        """Lifetime success rate (success_count / request_count) at least ``rate``, counting only bindings with
        at least ``BINDING_SLO_MIN_SAMPLES`` reports: a binding with no data never passes a minimum."""
        return self.filter(
            request_count__gte=settings.BINDING_SLO_MIN_SAMPLES, success_count__gte=F("request_count") * rate
        )

    def costing_at_most(self, price) -> BindingQuerySet:
        """Blended price per 1k tokens (the mean of the input and output prices) at most ``price``. Prices have six
        decimals; half of that resolution absorbs SQLite's binary floating point without changing any answer."""
        # A finer bound than the prices' six decimals means the same as its floor at six decimals.
        price = Decimal(price).quantize(Decimal("0.000001"), rounding=ROUND_FLOOR)
        limit = 2 * price + Decimal("0.0000005")
        return self.filter(cost_per_1k_input_tokens__lte=limit - F("cost_per_1k_output_tokens"))


class BindingSampleQuerySet(models.QuerySet):
    def figures(self, binding_ids, now: dt.datetime | None = None) -> dict[int, WindowFigures]:
        """Figures over the window for each of ``binding_ids``, in one grouped query (bindings without reports in
        the window are absent: "no data")."""
        start = window_start(now or timezone.now())
        figures: dict[int, WindowFigures] = {}
        rows = (
            self.filter(binding_id__in=list(binding_ids), slice_start__gte=start)
            .values_list("binding_id", "bucket", "success")
            .annotate(n=Sum("count"))
            .order_by()
        )
        for binding_id, bucket, success, n in rows:
            entry = figures.setdefault(binding_id, WindowFigures())
            entry.samples += n
            if success:
                entry.successes += n
            entry.histogram[bucket] = entry.histogram.get(bucket, 0) + n
        return figures

    def older_than_window(self, now: dt.datetime) -> BindingSampleQuerySet:
        return self.filter(slice_start__lt=window_start(now))
