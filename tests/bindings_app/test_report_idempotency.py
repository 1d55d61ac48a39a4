"""A report batch retried with its Idempotency-Key is counted once, and the answer is built from what the
report committed (``ProviderBinding.report`` returns the binding read inside its transaction)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kernel.models import IdempotencyKey
from tests import replica_mode

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


def test_a_key_costs_six_statements_and_a_replay_does_none_of_the_work(api, make_binding):
    binding = make_binding()
    url = f"{URL}/{binding.pk}/report"
    api.post(url, BATCH, format="json")  # warm: the credential check's caches

    def statements(**headers) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert api.post(url, BATCH, format="json", **headers).status_code == 200
        # Not the consistency token a write's answer carries when replicas are configured (make test-replica).
        return [query["sql"] for query in captured.captured_queries if not replica_mode.is_routing(query)]

    plain = statements()
    keyed = statements(HTTP_IDEMPOTENCY_KEY="batch-1")
    replayed = statements(HTTP_IDEMPOTENCY_KEY="batch-1")

    # The transaction around the work (a savepoint's two statements here inside the test's transaction; in a
    # request the report's own transaction becomes that savepoint), the claim (a savepoint around its INSERT) and
    # the stored answer (an UPDATE).
    assert len(keyed) == len(plain) + 6
    # A replay: the credential check, the claim refused and the key's row read; none of the report's statements.
    assert len(replayed) <= 8
    assert not any("bindings_app_bindingsample" in sql for sql in replayed)
    assert IdempotencyKey.objects.count() == 1
