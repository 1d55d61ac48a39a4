"""Hostile policies (issue #7): a stored rule that cannot compile, and an entity that tries to dodge an exact
rule with a trailing newline."""

from __future__ import annotations

import pytest

from kernel.writes.register import register
from policies_app.models import Policy, PolicyVersion
from tests.policies_app.conftest import EVALUATE, rbac

pytestmark = pytest.mark.django_db

HUGE = 10**400


def test_a_stored_rule_that_cannot_compile_does_not_fail_every_evaluation(api, rate_limit_doc):
    """Defence in depth: a row written before validation knew better (or around it) is skipped, not fatal."""
    register(Policy, rate_limit_doc)
    PolicyVersion.objects.update(
        spec={
            **PolicyVersion.objects.get().spec,
            "rules": [{"entity": "user:*", "resource": "api:inference", "requests": HUGE, "window_seconds": 1}],
        }
    )

    response = api.post(EVALUATE, {"entity": "user:a", "resource": "api:inference", "action": "read"}, format="json")

    assert response.status_code == 200 and response.json()["rate_limit"] is None


def test_a_trailing_newline_does_not_dodge_an_exact_deny_rule(api, register):
    register(
        "access", "rbac", [rbac("user:*", "api:inference", "allow"), rbac("user:mallory", "api:inference", "deny")]
    )

    dodge = api.post(
        EVALUATE, {"entity": "user:mallory\n", "resource": "api:inference", "action": "read"}, format="json"
    )

    assert dodge.status_code == 400 and dodge.json()["errors"][0]["path"] == "/entity"
    honest = api.post(
        EVALUATE, {"entity": "user:mallory", "resource": "api:inference", "action": "read"}, format="json"
    )
    assert honest.json()["allowed"] is False
