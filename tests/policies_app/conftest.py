from __future__ import annotations

import copy

import pytest

from policies_app.evaluation import evaluator
from tests.conftest import example

URL = "/api/v1/policies"
EVALUATE = f"{URL}/evaluate"


@pytest.fixture(autouse=True)
def fresh_rule_index():
    """Each test starts with no compiled index, as a newly started replica would."""
    evaluator.forget()
    yield
    evaluator.forget()


@pytest.fixture
def rate_limit_doc() -> dict:
    """The user-rate-limits example from DESIGN.md (a fresh copy per test)."""
    return copy.deepcopy(example("policies_app", "user-rate-limits"))


@pytest.fixture
def register(api):
    """Register a policy through the API: register("name", "rbac", [rules], priority=..., enforcement=...)."""

    def build(name: str, policy_type: str, rules: list[dict], *, version: str = "1.0.0", **fields) -> dict:
        document = {"name": name, "version": version, "type": policy_type, "rules": rules, **fields}
        response = api.post(URL, document, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return build


def evaluate(client, entity="user:alice", resource="api:inference", action="read", roles=()) -> dict:
    response = client.post(
        EVALUATE, {"entity": entity, "resource": resource, "action": action, "roles": list(roles)}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response.json()


def rbac(subject: str, resource: str, effect: str, actions=("*",)) -> dict:
    return {"subject": subject, "resource": resource, "actions": list(actions), "effect": effect}


def limit(entity: str, resource: str, requests: int, window: int = 60, burst: int | None = None) -> dict:
    rule = {"entity": entity, "resource": resource, "requests": requests, "window_seconds": window}
    if burst is not None:
        rule["burst"] = burst
    return rule
