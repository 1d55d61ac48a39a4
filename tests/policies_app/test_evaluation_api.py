"""POST /api/v1/policies/evaluate: what applies to an entity and a resource, and why."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.policies_app.conftest import EVALUATE, URL, evaluate, limit, rbac

pytestmark = pytest.mark.django_db


def test_the_design_example_gives_alice_100_requests_per_minute_with_burst_120(api, rate_limit_doc):
    api.post(URL, rate_limit_doc, format="json")

    decision = evaluate(api, "user:alice", "api:inference")

    assert decision["rate_limit"] == {
        "requests": 100,
        "window_seconds": 60,
        "burst": 120,
        "policy": "user-rate-limits",
        "version": "1.0.0",
        "rule": 0,
        "enforcement": "hard",
    }
    assert decision["quota"] is None
    assert [(m["policy"], m["version"], m["rule"], m["specificity"]) for m in decision["matched"]] == [
        ("user-rate-limits", "1.0.0", 0, 4 * 1 + 3),  # user:* (whole-name wildcard) on api:inference (exact)
    ]
    assert evaluate(api, "user:alice", "api:models")["rate_limit"]["requests"] == 50
    assert evaluate(api, "service:batch", "api:inference")["rate_limit"] is None


def test_with_no_rbac_rule_the_default_denies(api, rate_limit_doc):
    api.post(URL, rate_limit_doc, format="json")

    decision = evaluate(api)

    assert decision["allowed"] is False
    assert decision["decided_by"]["policy"] is None and decision["decided_by"]["default"] == "deny"


@override_settings(POLICY_DEFAULT_EFFECT="allow")
def test_the_default_effect_is_a_setting(api):
    decision = evaluate(api)

    assert decision["allowed"] is True and decision["decided_by"]["default"] == "allow"


def test_roles_match_rbac_subjects(api, register):
    register("engineers", "rbac", [rbac("role:ml-engineer", "model:*", "allow", ["read", "deploy"])])

    assert evaluate(api, "user:alice", "model:llama2-7b", "deploy", roles=["role:ml-engineer"])["allowed"] is True
    assert evaluate(api, "user:alice", "model:llama2-7b", "delete", roles=["role:ml-engineer"])["allowed"] is False
    assert evaluate(api, "user:alice", "model:llama2-7b", "deploy")["allowed"] is False


def test_higher_priority_wins_over_a_more_specific_rule(api, register):
    register("block-all", "rbac", [rbac("*", "model:*", "deny")], priority=500)
    register("alice-may", "rbac", [rbac("user:alice", "model:llama2-7b", "allow")], priority=100)

    decision = evaluate(api, "user:alice", "model:llama2-7b")

    assert decision["allowed"] is False
    assert decision["decided_by"]["policy"] == "block-all"
    assert decision["decided_by"]["reason"].startswith("highest priority")
    assert [m["policy"] for m in decision["matched"]] == ["block-all", "alice-may"]


def test_at_equal_priority_exact_beats_prefix_beats_wildcard(api, register):
    register("anyone", "rate_limit", [limit("user:*", "*", 1000)], priority=10)
    register("llama-users", "rate_limit", [limit("user:*", "model:llama2-*", 500)], priority=10)
    register("chat-users", "rate_limit", [limit("user:*", "model:llama2-7b-chat", 2000)], priority=10)

    assert evaluate(api, "user:bob", "model:llama2-7b-chat")["rate_limit"]["policy"] == "chat-users"
    assert evaluate(api, "user:bob", "model:llama2-13b")["rate_limit"]["policy"] == "llama-users"
    assert evaluate(api, "user:bob", "model:mistral-7b")["rate_limit"]["policy"] == "anyone"


def test_the_entity_pattern_counts_before_the_resource_pattern(api, register):
    register("alice-everywhere", "rbac", [rbac("user:alice", "*", "allow")], priority=10)
    register("users-on-inference", "rbac", [rbac("user:*", "api:inference", "deny")], priority=10)

    decision = evaluate(api, "user:alice", "api:inference")

    assert decision["allowed"] is True
    assert decision["decided_by"]["specificity"] == 4 * 3 + 0
    assert "specific" in decision["decided_by"]["reason"]


def test_at_equal_priority_and_specificity_deny_beats_allow(api, register):
    register("allow-readers", "rbac", [rbac("role:reader", "api:models", "allow", ["read"])], priority=50)
    register("deny-contractors", "rbac", [rbac("role:contractor", "api:models", "deny", ["read"])], priority=50)

    decision = evaluate(api, "user:carol", "api:models", "read", roles=["role:reader", "role:contractor"])

    assert decision["allowed"] is False
    assert decision["decided_by"]["policy"] == "deny-contractors"
    assert decision["decided_by"]["reason"] == "equal priority and specificity; deny beats allow"
    # The order of registration does not matter: the other way round gives the same answer.
    assert (
        evaluate(api, "user:carol", "api:models", "read", roles=["role:contractor", "role:reader"])["allowed"] is False
    )


def test_at_equal_priority_and_specificity_the_lower_limit_wins(api, register):
    register("generous", "rate_limit", [limit("user:*", "api:inference", 600, window=60)], priority=100)
    register("strict", "rate_limit", [limit("user:*", "api:inference", 5000, window=3600)], priority=100)

    decision = evaluate(api, "user:dave", "api:inference")

    assert (decision["rate_limit"]["policy"], decision["rate_limit"]["requests"]) == ("strict", 5000)  # 1.4/s < 10/s
    assert [m["policy"] for m in decision["matched"]] == ["strict", "generous"]


def test_quota_resolution_returns_the_lower_quota(api, register):
    register(
        "team-tokens",
        "quota",
        [{"entity": "team:*", "resource": "model:*", "limit": 1_000_000, "period": "month", "unit": "tokens"}],
    )
    register(
        "research-tokens",
        "quota",
        [{"entity": "team:research", "resource": "model:*", "limit": 50_000, "period": "month", "unit": "tokens"}],
    )

    decision = evaluate(api, "team:research", "model:llama2-7b")

    assert decision["quota"] == {
        "limit": 50_000,
        "period": "month",
        "unit": "tokens",
        "policy": "research-tokens",
        "version": "1.0.0",
        "rule": 0,
        "enforcement": "hard",
    }


def test_a_soft_deny_is_reported_but_never_denies(api, register):
    register("engineers", "rbac", [rbac("role:ml-engineer", "model:*", "allow")], priority=10)
    register("freeze-deploys", "rbac", [rbac("*", "model:*", "deny", ["deploy"])], priority=900, enforcement="soft")

    decision = evaluate(api, "user:alice", "model:llama2-7b", "deploy", roles=["role:ml-engineer"])

    assert decision["allowed"] is True
    assert decision["decided_by"]["policy"] == "engineers"
    assert decision["enforcement"] == "soft"
    assert decision["soft_decision"]["policy"] == "freeze-deploys" and decision["soft_decision"]["allowed"] is False
    assert [(m["policy"], m["enforcement"]) for m in decision["matched"]] == [
        ("freeze-deploys", "soft"),
        ("engineers", "hard"),
    ]


def test_a_soft_rate_limit_never_hides_a_hard_one(api, register):
    register("hard-limit", "rate_limit", [limit("user:*", "api:inference", 100)], priority=10)
    register("trial-limit", "rate_limit", [limit("user:*", "api:inference", 10)], priority=90, enforcement="soft")

    assert evaluate(api)["rate_limit"]["policy"] == "hard-limit"


def test_only_the_current_version_counts(api, register):
    register("access", "rbac", [rbac("user:alice", "api:inference", "allow")], version="1.0.0")
    register("access", "rbac", [rbac("user:alice", "api:inference", "deny")], version="2.0.0")
    api.post(f"{URL}/access/versions/1.0.0/activate")

    decision = evaluate(api)

    assert decision["allowed"] is True
    assert [(m["policy"], m["version"]) for m in decision["matched"]] == [("access", "1.0.0")]


def test_without_a_current_version_the_latest_active_version_counts(api, register):
    register("access", "rbac", [rbac("user:alice", "api:inference", "allow")], version="1.0.0")
    register("access", "rbac", [rbac("user:alice", "api:inference", "deny")], version="1.1.0")
    register("access", "rbac", [rbac("user:alice", "api:inference", "deny")], version="2.0.0-rc.1")
    api.post(f"{URL}/access/versions/1.1.0/deprecate")

    assert [m["version"] for m in evaluate(api)["matched"]] == ["1.0.0"]


def test_deleted_and_archived_policies_do_not_count(api, register):
    register("gone", "rbac", [rbac("user:alice", "api:inference", "allow")])
    register("retired", "rbac", [rbac("user:alice", "api:inference", "allow")])
    api.delete(f"{URL}/gone")
    api.post(f"{URL}/retired/versions/1.0.0/archive")

    assert evaluate(api)["matched"] == []


def test_a_read_only_key_may_evaluate_but_not_register(readonly_api, rate_limit_doc):
    assert (
        readonly_api.post(
            EVALUATE, {"entity": "user:a", "resource": "api:b", "action": "read"}, format="json"
        ).status_code
        == 200
    )
    assert readonly_api.post(URL, rate_limit_doc, format="json").status_code == 403


def test_evaluate_needs_credentials(anon):
    assert (
        anon.post(EVALUATE, {"entity": "user:a", "resource": "api:b", "action": "read"}, format="json").status_code
        == 401
    )


def test_a_malformed_evaluate_request_names_every_problem(api):
    response = api.post(
        EVALUATE, {"entity": "user:*", "action": "launch", "roles": ["ml-engineer"], "extra": 1}, format="json"
    )

    assert response.status_code == 400
    assert {(e["path"], e["code"]) for e in response.json()["errors"]} == {
        ("/entity", "invalid_format"),
        ("/resource", "required"),
        ("/action", "invalid_choice"),
        ("/roles/0", "invalid_format"),
        ("/extra", "unknown_field"),
    }
    assert api.post(EVALUATE, ["not", "an", "object"], format="json").status_code == 400


def test_evaluating_once_warm_costs_only_the_key_and_the_generation(api, register, django_assert_max_num_queries):
    for i in range(20):
        register(f"p{i}", "rbac", [rbac("role:ml-engineer", f"model:m{i}-*", "allow")])
    evaluate(api, "user:alice", "model:m3-x", roles=["role:ml-engineer"])

    # The API key lookup and the policy generation (a primary-key read); the rule set comes from memory.
    with django_assert_max_num_queries(2):
        decision = evaluate(api, "user:alice", "model:m3-x", roles=["role:ml-engineer"])

    assert decision["allowed"] is True


def test_load_examples_registers_and_activates_the_example_policy(api):

    call_command("load_examples", stdout=io.StringIO())

    assert api.get(f"{URL}/user-rate-limits/versions/current").json()["version"] == "1.0.0"
    assert evaluate(api)["rate_limit"]["burst"] == 120


def test_rules_of_different_types_with_equal_rank_resolve_side_by_side(api, register):
    register("access", "rbac", [rbac("user:*", "api:inference", "allow")], priority=100)
    register("per-second", "rate_limit", [limit("user:*", "api:inference", 60, window=60)], priority=100)
    register(
        "daily",
        "quota",
        [{"entity": "user:*", "resource": "api:inference", "limit": 1, "period": "day", "unit": "requests"}],
        priority=100,
    )

    decision = evaluate(api)

    assert decision["allowed"] is True
    assert (decision["rate_limit"]["requests"], decision["quota"]["limit"]) == (60, 1)
    assert [m["type"] for m in decision["matched"]] == ["rbac", "rate_limit", "quota"]
