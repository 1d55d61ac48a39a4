"""The gateway's reports: counters, the window's figures, "no data", and SLO degradation and recovery."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from django.test import override_settings
from django.utils import timezone

from bindings_app import latency
from bindings_app.models import BindingSample, BindingStatusChange
from bindings_app.validation import parse_outcomes

from .conftest import URL

pytestmark = pytest.mark.django_db


def outcomes(n: int, *, success: bool = True, latency_ms: float = 200, **extra) -> list[dict]:
    return [
        {"success": success, "latency_ms": latency_ms, "input_tokens": 300, "output_tokens": 90, **extra}
        for _ in range(n)
    ]


def report(api, binding, body):
    response = api.post(f"{URL}/{binding.pk}/report", body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_batch_grows_the_counters_and_the_window(api, make_binding):
    binding = make_binding()

    body = report(api, binding, outcomes(18) + outcomes(2, success=False, latency_ms=900))

    assert body["accepted"] == 20
    figures = body["binding"]
    assert figures["request_count"] == 20 and figures["success_count"] == 18
    assert figures["input_tokens"] == 6000 and figures["output_tokens"] == 1800
    assert figures["success_rate"] == 0.9
    assert figures["window"]["state"] == "ok" and figures["window"]["samples"] == 20
    assert figures["window"]["latency_p50_ms"] == pytest.approx(200, rel=latency.MAX_RELATIVE_ERROR)
    assert figures["window"]["latency_p95_ms"] == pytest.approx(900, rel=latency.MAX_RELATIVE_ERROR)
    assert figures["last_report_at"] is not None


def test_a_single_outcome_object_is_accepted(api, make_binding):
    binding = make_binding()

    body = report(api, binding, {"success": True, "latency_ms": 182, "input_tokens": 312, "output_tokens": 90})

    assert body["accepted"] == 1 and body["binding"]["request_count"] == 1


def test_too_few_samples_show_no_data_never_zero_latency_or_full_success(api, make_binding):
    binding = make_binding()

    body = report(api, binding, outcomes(19, latency_ms=5))

    window = body["binding"]["window"]
    assert window["state"] == "no data" and window["samples"] == 19 and window["min_samples"] == 20
    assert window["success_rate"] is None and window["latency_p50_ms"] is None and window["latency_p95_ms"] is None
    assert body["binding"]["success_rate"] is None


def test_no_data_does_not_degrade_even_when_every_report_failed(api, make_binding):
    binding = make_binding()

    report(api, binding, outcomes(19, success=False, latency_ms=60_000))

    binding.refresh_from_db()
    assert binding.status == "active"
    assert not BindingStatusChange.objects.exists()


def test_missing_the_latency_slo_degrades_with_the_reason(api, make_binding):
    binding = make_binding(slo_latency_p95_ms=1500)

    body = report(api, binding, outcomes(20, latency_ms=2300))

    assert body["binding"]["status"] == "degraded"
    reason = body["binding"]["status_reason"]
    assert reason.startswith("p95 ") and "> SLO 1500 ms over 15 min" in reason
    change = BindingStatusChange.objects.get(binding=binding)
    assert (change.from_status, change.to_status, change.reason) == ("active", "degraded", reason)


def test_missing_the_success_slo_degrades_and_meeting_it_again_recovers(api, make_binding):
    binding = make_binding(slo_success_rate=0.9, slo_latency_p95_ms=None)

    degraded = report(api, binding, outcomes(15) + outcomes(5, success=False))
    still = report(api, binding, outcomes(10))  # 25 / 30 = 83 %: still short
    recovered = report(api, binding, outcomes(30))  # 55 / 60 = 92 %

    assert degraded["binding"]["status"] == "degraded"
    assert degraded["binding"]["status_reason"] == "success 75.0 % < SLO 90.0 % over 15 min"
    assert still["binding"]["status"] == "degraded"
    assert recovered["binding"]["status"] == "active"
    assert recovered["binding"]["status_reason"].startswith("within SLO over 15 min: success 91.7 %")
    moves = list(
        BindingStatusChange.objects.filter(binding=binding).order_by("at", "id").values_list("to_status", flat=True)
    )
    assert moves == ["degraded", "active"]


def test_a_disabled_binding_counts_reports_but_does_not_move(api, make_binding):
    binding = make_binding()
    binding.disable()

    body = report(api, binding, outcomes(30, success=False))

    assert body["binding"]["status"] == "disabled" and body["binding"]["request_count"] == 30


def test_reports_older_than_the_window_count_but_leave_the_window_alone(api, make_binding):
    binding = make_binding()
    old = (timezone.now() - dt.timedelta(hours=2)).isoformat()

    body = report(api, binding, outcomes(25, at=old, success=False))

    assert body["binding"]["request_count"] == 25
    assert body["binding"]["window"]["samples"] == 0
    assert body["binding"]["status"] == "active"
    assert not BindingSample.objects.exists()


@override_settings(BINDING_WINDOW_MINUTES=5)
def test_the_window_is_configurable_and_forgets_old_slices(api, make_binding):
    binding = make_binding()
    now = timezone.now()
    report(api, binding, outcomes(20, at=(now - dt.timedelta(minutes=4)).isoformat(), latency_ms=3000))
    binding.refresh_from_db()
    assert binding.status == "degraded" and binding.status_reason.endswith("over 5 min")

    later = now + dt.timedelta(minutes=10)
    _, figures = binding.report(parse_outcomes(outcomes(20, latency_ms=100), now=later), now=later)

    binding.refresh_from_db()
    assert figures.samples == 20  # the old, slow slice has left the window
    assert binding.status == "active"
    assert BindingSample.objects.filter(slice_start__lt=later - dt.timedelta(minutes=5)).count() == 0


@pytest.mark.parametrize(
    "body, path",
    [
        ([], ""),
        ([{"success": True}] * 1001, ""),
        ("yes", ""),
        ([{"success": True}, {"latency_ms": 5}], "/1/success"),
        ([{"success": "true"}], "/0/success"),
        ({"success": True, "latency_ms": -1}, "/latency_ms"),
        ({"success": True, "input_tokens": 1.5}, "/input_tokens"),
        ({"success": True, "at": "yesterday"}, "/at"),
        ({"success": True, "at": "2026-01-01T10:00:00"}, "/at"),
        ({"success": True, "at": "2999-01-01T10:00:00Z"}, "/at"),
        ({"success": True, "cost": 3}, "/cost"),
    ],
)
def test_bad_reports_are_a_400_with_the_path_and_count_nothing(api, make_binding, body, path):
    binding = make_binding()

    response = api.post(f"{URL}/{binding.pk}/report", body, format="json")

    assert response.status_code == 400, response.json()
    assert path in [e["path"] for e in response.json()["errors"]]
    binding.refresh_from_db()
    assert binding.request_count == 0
    assert not BindingSample.objects.exists()


def test_a_full_batch_of_1000_is_accepted(api, make_binding):
    binding = make_binding()

    body = report(api, binding, [{"success": i % 10 != 0, "latency_ms": i} for i in range(1000)])

    assert body["binding"]["request_count"] == 1000 and body["binding"]["success_count"] == 900


def test_histogram_quantiles_stay_within_the_stated_error_bound():
    rng = random.Random(7)
    values = [rng.lognormvariate(5.5, 1.0) for _ in range(5000)] + [0.2, 200_000]
    histogram: dict[int, int] = {}
    for value in values:
        bucket = latency.bucket_of(value)
        histogram[bucket] = histogram.get(bucket, 0) + 1
    ordered = sorted(values)

    for q in (0.5, 0.9, 0.95, 0.99):
        exact = ordered[math.ceil(q * len(ordered)) - 1]
        assert latency.quantile(histogram.items(), q) == pytest.approx(exact, rel=latency.MAX_RELATIVE_ERROR)
    assert latency.MAX_RELATIVE_ERROR < 0.05
