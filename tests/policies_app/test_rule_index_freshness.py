"""The compiled rule set is reused until a policy changes, and a change made anywhere is seen everywhere: the
database decides (the generation row), not Redis. These tests commit for real (``transaction=True``)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kernel.writes.lifecycle import activate
from kernel.writes.register import register_version
from policies_app.evaluation import PolicyEvaluator, bump_generation, evaluator
from policies_app.models import Policy, PolicyVersion
from tests.policies_app.conftest import URL, evaluate, rbac

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_change_through_the_api_is_seen_by_the_next_evaluation(api, register):
    register("access", "rbac", [rbac("user:alice", "api:inference", "allow")], priority=10)
    assert evaluate(api)["allowed"] is True

    register("access", "rbac", [rbac("user:alice", "api:inference", "deny")], version="2.0.0", priority=10)
    assert evaluate(api)["decided_by"]["version"] == "2.0.0"  # no current version: the latest active one

    api.post(f"{URL}/access/versions/1.0.0/activate")
    assert evaluate(api)["allowed"] is True

    api.post(f"{URL}/access/versions/1.0.0/deprecate")
    assert evaluate(api)["allowed"] is False

    api.delete(f"{URL}/access")
    assert evaluate(api)["matched"] == []


def test_the_index_is_compiled_once_and_reused_until_something_changes(api, register):
    register("access", "rbac", [rbac("user:alice", "api:inference", "allow")])
    Policy.evaluate("user:alice", "api:inference", "read")
    compiled = evaluator.rule_index()

    with CaptureQueriesContext(connection) as queries:
        for _ in range(50):
            Policy.evaluate("user:alice", "api:inference", "read")
    # One primary-key read of the generation per evaluation; the rules are not loaded again.
    assert evaluator.rule_index() is compiled and len(queries) == 50
    assert all("policygeneration" in q["sql"] for q in queries.captured_queries)

    api.patch(f"{URL}/access", {"description": "who may call inference"}, format="json")
    assert evaluator.rule_index() is not compiled


def test_a_change_committed_by_another_evaluator_is_seen_here(api, register):
    """Two evaluators in one process; tests/policies_app/test_freshness_across_servers.py does the same with two
    real server processes."""
    register("access", "rbac", [rbac("user:alice", "api:inference", "allow")])
    here, there = PolicyEvaluator(), PolicyEvaluator()
    assert here.evaluate("user:alice", "api:inference", "read").allowed is True
    assert there.evaluate("user:alice", "api:inference", "read").allowed is True

    # "There" registers and activates a deny through the model methods the API calls; "here" never touched it.
    register_version(
        Policy.get_alive("access"),
        {"version": "2.0.0", "type": "rbac", "rules": [rbac("user:alice", "api:inference", "deny")]},
    )
    activate(PolicyVersion.objects.get(version="2.0.0"))

    assert here.evaluate("user:alice", "api:inference", "read").allowed is False


def test_a_bumped_generation_makes_every_evaluator_recompile(register):
    register("access", "rbac", [rbac("user:alice", "api:inference", "allow")])
    replica = PolicyEvaluator()
    replica.evaluate("user:alice", "api:inference", "read")
    # A write that bypasses the model methods (say, a data migration) is invisible until someone bumps.
    PolicyVersion.objects.update(
        spec={
            "type": "rbac",
            "enforcement": "hard",
            "priority": 0,
            "rules": [rbac("user:alice", "api:inference", "deny")],
        }
    )
    assert replica.evaluate("user:alice", "api:inference", "read").allowed is True

    bump_generation()

    assert replica.evaluate("user:alice", "api:inference", "read").allowed is False
