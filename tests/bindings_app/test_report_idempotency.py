"""A report batch retried with its Idempotency-Key is counted once, and the answer is built from what the
report committed (``ProviderBinding.report`` returns the binding read inside its transaction)."""

from __future__ import annotations

import pytest

from kernel.models import IdempotencyKey

from .conftest import URL

pytestmark = pytest.mark.django_db

BATCH = [{"success": True, "latency_ms": 120, "input_tokens": 10, "output_tokens": 5}] * 3


def test_a_batch_retried_with_its_key_is_counted_once(api, make_binding):
    binding = make_binding()
    url = f"{URL}/{binding.pk}/report"

    first = api.post(url, BATCH, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    again = api.post(url, BATCH, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    other = api.post(url, BATCH, format="json", HTTP_IDEMPOTENCY_KEY="batch-2")

    assert first.status_code == again.status_code == other.status_code == 200
    assert again.json() == first.json() and first.json()["binding"]["request_count"] == 3
    assert other.json()["binding"]["request_count"] == 6
    binding.refresh_from_db()
    assert binding.request_count == 6


def test_a_keyed_report_costs_a_bounded_number_of_queries(api, make_binding, django_assert_max_num_queries):
    binding = make_binding()
    url = f"{URL}/{binding.pk}/report"
    api.post(url, BATCH, format="json")  # warm: the credential check's caches

    with django_assert_max_num_queries(20):
        assert api.post(url, BATCH, format="json", HTTP_IDEMPOTENCY_KEY="batch-1").status_code == 200
    with django_assert_max_num_queries(8):
        assert api.post(url, BATCH, format="json", HTTP_IDEMPOTENCY_KEY="batch-1").status_code == 200
    assert IdempotencyKey.objects.count() == 1
