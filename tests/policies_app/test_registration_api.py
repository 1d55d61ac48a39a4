"""Registering, validating, filtering and listing policies through the real URL, serializer and database."""

from __future__ import annotations

import pytest
from django.test import override_settings

from policies_app.models import PolicyVersion
from tests.policies_app.conftest import URL, limit, rbac

pytestmark = pytest.mark.django_db


def test_register_the_design_example_returns_the_flat_document(api, rate_limit_doc):
    response = api.post(URL, rate_limit_doc, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    for key in ("name", "version", "type", "enforcement", "priority", "rules"):
        assert body[key] == rate_limit_doc[key]
    assert body["status"] == "active" and body["is_current"] is False
    assert response["Location"].endswith("/api/v1/policies/user-rate-limits/versions/1.0.0")


def test_enforcement_and_priority_defaults_are_stored_with_the_spec(api, register):
    body = register("plain", "rbac", [rbac("role:admin", "*", "allow")])

    assert body["enforcement"] == "hard" and body["priority"] == 0
    assert api.get(f"{URL}/plain").json()["enforcement"] == "hard"


def test_bad_rules_are_all_rejected_at_once_with_their_paths(api):
    document = {
        "name": "broken",
        "version": "1.0.0",
        "type": "rate_limit",
        "priority": 1001,
        "rules": [
            limit("user*", "api:inference", 10),  # invalid entity pattern
            limit("user:*", "api:inference", 100, burst=50),  # burst below requests
            limit("user:*", "api:inference", 200, burst=200),  # contradicts rule 1
            {"entity": "user:*", "resource": "api:x", "requests": 0, "window_seconds": 60},
            {"entity": "user:*", "resource": "api:*", "limit": 5},  # a quota field in a rate limit
        ],
    }

    response = api.post(URL, document, format="json")

    assert response.status_code == 400
    errors = {(e["path"], e["code"]) for e in response.json()["errors"]}
    assert errors >= {
        ("/priority", "out_of_range"),
        ("/rules/0/entity", "invalid_format"),
        ("/rules/1/burst", "burst_below_requests"),
        ("/rules/2", "contradicting_rules"),
        ("/rules/3/requests", "out_of_range"),
        ("/rules/4/limit", "unknown_field"),
        ("/rules/4/requests", "required"),
    }
    assert not PolicyVersion.objects.exists()


def test_rbac_rules_contradict_only_when_their_actions_overlap(api):
    document = {
        "name": "access",
        "version": "1.0.0",
        "type": "rbac",
        "rules": [
            rbac("role:ml-engineer", "model:*", "allow", ["read", "deploy"]),
            rbac("role:ml-engineer", "model:*", "deny", ["delete"]),  # no overlap: fine
            rbac("role:ml-engineer", "model:*", "deny", ["*"]),  # overlaps rule 0 and disagrees
        ],
    }

    report = api.post(f"{URL}/validate", document, format="json").json()

    assert report["valid"] is False
    assert [(e["path"], e["code"]) for e in report["errors"]] == [("/rules/2", "contradicting_rules")]
    assert "rule 0" in report["errors"][0]["message"]


def test_quota_rules_need_their_own_fields_and_known_units(api):
    document = {
        "name": "tokens",
        "version": "1.0.0",
        "type": "quota",
        "rules": [{"entity": "team:*", "resource": "model:llama2-*", "limit": -1, "period": "week", "unit": "tokens"}],
    }

    errors = {(e["path"], e["code"]) for e in api.post(f"{URL}/validate", document, format="json").json()["errors"]}

    assert errors == {("/rules/0/limit", "out_of_range"), ("/rules/0/period", "invalid_choice")}


@override_settings(MAX_POLICY_RULES=3)
def test_more_rules_than_max_policy_rules_is_an_error(api):
    document = {
        "name": "many",
        "version": "1.0.0",
        "type": "rbac",
        "rules": [rbac(f"user:u{i}", "api:inference", "allow") for i in range(4)],
    }

    response = api.post(URL, document, format="json")

    assert response.status_code == 400
    assert [(e["path"], e["code"]) for e in response.json()["errors"]] == [("/rules", "too_many_items")]


def test_a_policy_cannot_be_named_evaluate(api, rate_limit_doc):
    rate_limit_doc["name"] = "evaluate"

    response = api.post(URL, rate_limit_doc, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "reserved_name"


def test_rules_are_immutable_once_registered(api, rate_limit_doc):
    api.post(URL, rate_limit_doc, format="json")

    response = api.patch(f"{URL}/user-rate-limits", {"priority": 5}, format="json")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "spec_immutable"


def test_list_filters_by_type_enforcement_and_search(api, register):
    register("user-limits", "rate_limit", [limit("user:*", "api:inference", 10)], enforcement="soft")
    register(
        "team-quotas", "quota", [{"entity": "team:*", "resource": "*", "limit": 10, "period": "day", "unit": "tokens"}]
    )
    register("model-access", "rbac", [rbac("role:admin", "model:*", "allow")], description="Who may deploy models")

    def names(query: str) -> list[str]:
        response = api.get(f"{URL}?{query}")
        assert response.status_code == 200, response.json()
        return [p["name"] for p in response.json()["results"]]

    assert names("type=quota") == ["team-quotas"]
    assert names("enforcement=soft") == ["user-limits"]
    assert names("enforcement=hard") == ["model-access", "team-quotas"]
    assert names("search=deploy") == ["model-access"]
    assert names("search=limits") == ["user-limits"]
    assert api.get(f"{URL}?type=acl").status_code == 400


def test_listing_policies_takes_a_bounded_number_of_queries(api, register, django_assert_max_num_queries):
    for i in range(25):
        register(f"policy-{i:02d}", "rbac", [rbac("role:admin", f"model:m{i}", "allow")])
        register(f"policy-{i:02d}", "rbac", [rbac("role:admin", f"model:m{i}", "deny")], version="1.1.0")

    with django_assert_max_num_queries(3):  # the API key, the count, the page
        response = api.get(f"{URL}?limit=100")

    assert response.status_code == 200
    assert response.json()["count"] == 25
    assert {p["version"] for p in response.json()["results"]} == {"1.1.0"}
