"""Lineage writes under real concurrency on PostgreSQL: threads with their own connections, released at once."""

from __future__ import annotations

from collections import Counter

import pytest

from models_app.models import Attestation, Contribution, ModelVersion
from tests.models_app.conftest import ALICE, BOB
from tests.models_app.test_concurrency import URL, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 12


def test_racing_registrations_of_one_derived_version_leave_one_set_of_rows(api, model_doc, signing_key):
    """The losers' contributions and attestations roll back with their registration: no orphan rows."""
    api.post(URL, model_doc(name="race", version="1.0.0", metrics={"accuracy": 0.8}), format="json")
    derived = model_doc(
        name="race",
        version="1.1.0",
        metrics={"accuracy": 0.9},
        derived_from={"model": "race", "version": "1.0.0", "relation": "finetune"},
        contributors=[
            {"address": ALICE, "role": "data", "weight": 0.5},
            {"address": BOB, "role": "code", "weight": 0.5},
        ],
    )

    statuses = run_concurrently(api.api_key, [("post", URL, derived) for _ in range(WORKERS)])

    # The same document with the same artifact digest: one registration, the others are retries answered 200.
    assert statuses == Counter({201: 1, 200: WORKERS - 1})
    version = ModelVersion.objects.get(version="1.1.0")
    assert Contribution.objects.count() == 2 and set(Contribution.objects.values_list("version", flat=True)) == {
        version.pk
    }
    assert Attestation.objects.get().version_id == version.pk


def test_parallel_derivations_from_one_parent_each_get_their_deltas_and_attestation(api, model_doc, signing_key):
    api.post(URL, model_doc(name="fan", version="1.0.0", metrics={"accuracy": 0.5}), format="json")
    requests = [
        (
            "post",
            URL,
            model_doc(
                name="fan",
                version=f"1.0.{i + 1}",
                metrics={"accuracy": 0.5 + (i + 1) / 100},
                derived_from={"model": "fan", "version": "1.0.0", "relation": "adapter"},
            ),
        )
        for i in range(WORKERS)
    ]

    assert run_concurrently(api.api_key, requests) == Counter({201: WORKERS})

    children = ModelVersion.objects.filter(derived_from__version="1.0.0")
    assert children.count() == WORKERS and Attestation.objects.count() == WORKERS
    assert sorted(round(c.deltas["accuracy"]["absolute"], 4) for c in children) == [
        round((i + 1) / 100, 4) for i in range(WORKERS)
    ]
    descendants = api.get("/api/v1/models/fan/versions/1.0.0/lineage?direction=descendants").json()
    assert descendants["count"] == WORKERS + 1
