"""Real concurrent connections on PostgreSQL: threads behind a barrier, each with its own connection."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from rest_framework.test import APIClient

from models_app.models import Model, ModelVersion

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

URL = "/api/v1/models"
WORKERS = 32


def run_concurrently(api_key: str, requests: list) -> Counter:
    """Send one request per thread, all released at once; returns the status codes."""
    barrier = threading.Barrier(len(requests))

    def send(request):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
        try:
            barrier.wait(timeout=30)
            method, path, body = request
            return getattr(client, method)(path, body, format="json").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return Counter(pool.map(send, requests))


def test_parallel_registrations_of_distinct_versions_all_succeed(api, model_doc):
    statuses = run_concurrently(api.api_key, [("post", URL, model_doc(version=f"1.{i}.0")) for i in range(WORKERS)])

    assert statuses == Counter({201: WORKERS})
    assert ModelVersion.objects.filter(model__name="llama2-7b-chat").count() == WORKERS
    # Each registration moved the latest pointer under the row lock, so the last word is the highest version.
    assert Model.objects.get(name="llama2-7b-chat").latest_version.version == f"1.{WORKERS - 1}.0"
    # The flag moved with the pointer in each transaction: one latest row, the one the pointer names.
    assert list(ModelVersion.objects.filter(is_latest=True).values_list("version", flat=True)) == [f"1.{WORKERS - 1}.0"]


def test_parallel_registrations_of_the_same_version_create_exactly_one(api, model_doc):
    docs = [model_doc(version="1.0.0") for _ in range(WORKERS)]
    for i, doc in enumerate(docs):  # distinct digests: the same digest would be a retry (200), not a conflict
        doc["artifact"]["checksum"] = f"sha256:{i:064x}"
    statuses = run_concurrently(api.api_key, [("post", URL, doc) for doc in docs])

    assert statuses == Counter({201: 1, 409: WORKERS - 1})
    assert ModelVersion.objects.count() == 1


def test_parallel_retries_of_one_registration_all_get_the_version(api, model_doc):
    statuses = run_concurrently(api.api_key, [("post", URL, model_doc(version="1.0.0")) for _ in range(WORKERS)])

    assert statuses == Counter({201: 1, 200: WORKERS - 1})
    assert ModelVersion.objects.count() == 1


def test_parallel_activations_leave_exactly_one_current_version(api, model_doc):
    for i in range(WORKERS):
        api.post(URL, model_doc(version=f"1.{i}.0"), format="json")

    statuses = run_concurrently(
        api.api_key, [("post", f"{URL}/llama2-7b-chat/versions/1.{i}.0/activate", None) for i in range(WORKERS)]
    )

    assert statuses == Counter({200: WORKERS})
    assert ModelVersion.objects.filter(is_current=True).count() == 1
    assert Model.objects.get().current_version == ModelVersion.objects.get(is_current=True)


def test_the_database_refuses_a_second_current_version_even_without_the_lock(api, model_doc):
    from django.db import IntegrityError, transaction

    api.post(URL, model_doc(version="1.0.0"), format="json")
    api.post(URL, model_doc(version="1.1.0"), format="json")
    ModelVersion.objects.filter(version="1.0.0").update(is_current=True)

    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(version="1.1.0").update(is_current=True)
