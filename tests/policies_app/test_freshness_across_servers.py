"""Two real server processes, each with its own compiled rule index, and no Redis at all (a plausible production
setup): a policy registered, changed or revoked through one is seen by the very next evaluation on the other,
because the database decides freshness (issue #7, fault 6)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from django.contrib.auth import get_user_model

from kernel.models import ApiKey
from tests.policies_app.conftest import rbac
from tests.servers import gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def call(base: str, key: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def allowed(base: str, key: str) -> bool:
    decision = call(
        base,
        key,
        "POST",
        "/api/v1/policies/evaluate",
        {"entity": "user:alice", "resource": "api:inference", "action": "read"},
    )
    return decision["allowed"]


def test_a_change_through_one_server_is_seen_at_once_by_another():
    _, key = ApiKey.objects.issue(get_user_model().objects.create_superuser("svc", password="svc-password-123"))
    with gunicorn() as one, gunicorn() as two:
        # Both servers compile (and keep) an index with no policy at all: the default denies.
        assert allowed(one, key) is False and allowed(two, key) is False

        call(
            one,
            key,
            "POST",
            "/api/v1/policies",
            {
                "name": "access",
                "version": "1.0.0",
                "type": "rbac",
                "rules": [rbac("user:alice", "api:inference", "allow")],
            },
        )
        assert allowed(two, key) is True

        call(
            one,
            key,
            "POST",
            "/api/v1/policies/access/versions",
            {"version": "2.0.0", "type": "rbac", "rules": [rbac("user:alice", "api:inference", "deny")]},
        )
        call(one, key, "POST", "/api/v1/policies/access/versions/2.0.0/activate")
        assert allowed(two, key) is False  # a revocation too

        call(two, key, "DELETE", "/api/v1/policies/access")
        assert allowed(one, key) is False and allowed(two, key) is False
