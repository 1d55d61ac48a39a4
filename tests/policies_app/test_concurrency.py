"""Real concurrent connections on PostgreSQL for a kind whose writes always take the ORM path (a policy's
``changing`` hook keeps them there): threads behind a barrier, each with its own connection."""

from __future__ import annotations

from collections import Counter

import pytest

from policies_app.models import Policy, PolicyVersion
from tests.models_app.test_concurrency import run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

URL = "/api/v1/policies"
WORKERS = 32


def test_parallel_first_registrations_of_one_name_create_one_policy_with_every_version(api, rate_limit_doc):
    """Every request may be the name's first: each creates the row inside a savepoint or, when another took the
    name, waits for it and locks the row it committed."""
    docs = [{**rate_limit_doc, "name": "raced", "version": f"1.{i}.0"} for i in range(WORKERS)]
    statuses = run_concurrently(api.api_key, [("post", URL, doc) for doc in docs])

    assert statuses == Counter({201: WORKERS})
    assert Policy.objects.filter(name="raced").count() == 1
    assert PolicyVersion.objects.filter(policy__name="raced").count() == WORKERS
    assert Policy.objects.get(name="raced").latest_version.version == f"1.{WORKERS - 1}.0"
