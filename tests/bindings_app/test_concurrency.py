"""No report is lost: 16 threads with their own PostgreSQL connections report to one binding at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from rest_framework.test import APIClient

from bindings_app.models import BindingSample

from .conftest import URL

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 16
BATCHES_PER_THREAD = 5


def test_parallel_reports_grow_the_counters_by_exactly_what_was_sent(api, make_binding):
    binding = make_binding(slo_success_rate=None, slo_latency_p95_ms=None)
    barrier = threading.Barrier(THREADS)

    def gateway(index: int) -> tuple[int, int]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api.api_key}")
        sent = successes = 0
        try:
            barrier.wait(timeout=30)
            for batch in range(BATCHES_PER_THREAD):
                size = 1 + (index * 7 + batch * 13) % 40
                body = [{"success": (index + i) % 4 != 0, "latency_ms": 50 + i} for i in range(size)]
                response = client.post(f"{URL}/{binding.pk}/report", body, format="json")
                assert response.status_code == 200, response.content
                sent += size
                successes += sum(item["success"] for item in body)
            return sent, successes
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(gateway, range(THREADS)))

    binding.refresh_from_db()
    assert binding.request_count == sum(sent for sent, _ in results)
    assert binding.success_count == sum(ok for _, ok in results)
    assert sum(BindingSample.objects.filter(binding=binding).values_list("count", flat=True)) == binding.request_count
