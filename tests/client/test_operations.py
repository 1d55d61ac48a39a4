"""Every operation of registry_client against a real gunicorn on PostgreSQL: what a caller gets back, the error
shape as exceptions with their codes and JSON Pointers, paging, If-Match, idempotency keys."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from tests.client.conftest import model_document

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_definitions_register_read_page_update_and_diff(registry):
    from registry_client import Conflict, InvalidRequest, NotFound

    models = registry.models
    report = models.validate(model_document(version="1.0"))
    assert report["valid"] is False
    assert "/version" in [e["path"] for e in report["errors"]]
    assert models.validate(model_document())["valid"] is True

    first = models.register(model_document())
    assert (first["name"], first["version"], first["status"]) == ("client-test-model", "1.0.0", "active")
    again = models.register(model_document())
    assert again["id"] == first["id"]
    assert "already_registered" in [w["code"] for w in again["warnings"]]
    second = models.register_version("client-test-model", model_document(version="1.1.0", metrics={"accuracy": 0.9}))
    assert second["version"] == "1.1.0"
    for n in range(3):
        models.register(model_document(name=f"client-paged-{n}"))

    with pytest.raises(Conflict) as conflict:
        models.register(model_document(runtime={"type": "vllm", "dtype": "bfloat16"}))
    assert conflict.value.codes == ["version_exists"]
    assert conflict.value.paths == ["/version"]
    with pytest.raises(InvalidRequest) as invalid:
        models.register(model_document(name="Bad Name"))
    assert "/name" in invalid.value.paths
    with pytest.raises(NotFound):
        models.get("no-such-model")
    with pytest.raises(InvalidRequest) as bad_parameter:
        models.list(stauts="active")
    assert bad_parameter.value.errors[0].parameter == "stauts"

    assert models.get("client-test-model")["version"] == "1.1.0"
    assert models.get("client-test-model", "1.0.0")["id"] == first["id"]
    assert models.get_by_id(first["id"])["version"] == "1.0.0"
    assert models.exists("client-test-model") and not models.exists("client-test-model", "9.9.9")

    page = models.list(limit=2)
    assert len(page.results) == 2 and page.count == 4 and page.next
    names = [d["name"] for d in models.iter(page_size=1)]  # four pages of one, following `next`
    assert sorted(names) == ["client-paged-0", "client-paged-1", "client-paged-2", "client-test-model"]
    assert [d["name"] for d in models.search("paged", ordering="name")] == [f"client-paged-{n}" for n in range(3)]
    assert [d["version"] for d in models.versions("client-test-model", page_size=1)] == ["1.1.0", "1.0.0"]

    updated = models.update("client-test-model", {"description": "changed by the client"}, version="1.0.0")
    assert updated["description"] == "changed by the client"
    found = models.diff("client-test-model", "1.0.0", "1.1.0")
    assert (found["from"]["version"], found["to"]["version"]) == ("1.0.0", "1.1.0")  # the registry's comparison
    assert [c["from"] for c in found["changed"] if c["path"] == "/description"] == ["changed by the client"]
    assert found["lineage"] == {"relation": "unrelated", "hops": None, "path": []}  # answered by the registry
    assert {"path": "/metrics", "value": {"accuracy": 0.9}} in found["added"]
    assert "/id" not in [c["path"] for c in found["changed"]]


def test_lifecycle_aliases_history_delete_and_restore(registry):
    from registry_client import Conflict, PreconditionFailed

    models = registry.models
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        models.register(model_document(version=version))

    assert models.activate("client-test-model", "1.1.0")["is_current"] is True
    assert models.get("client-test-model", "current")["version"] == "1.1.0"
    assert models.deprecate("client-test-model", "1.0.0")["status"] == "deprecated"
    assert models.archive("client-test-model", "1.0.0")["status"] == "archived"
    with pytest.raises(ValueError):
        models.move("client-test-model", "1.0.0", "promote")

    moved = models.set_alias("client-test-model", "production", "1.1.0")
    assert moved["version"] == "1.1.0"
    seen = models.get_alias("client-test-model", "production")
    assert seen["etag"] == '"1.1.0"'
    assert models.set_alias("client-test-model", "production", "1.2.0", if_match="1.1.0")["version"] == "1.2.0"
    with pytest.raises(PreconditionFailed) as stale:  # someone moved it first: our If-Match names 1.1.0
        models.set_alias("client-test-model", "production", "1.1.0", if_match=seen["etag"])
    assert stale.value.status == 412 and isinstance(stale.value, Conflict)
    assert models.get("client-test-model", "@production")["version"] == "1.2.0"
    assert [a["alias"] for a in models.aliases("client-test-model")] == ["production"]
    assert len(list(models.alias_history("client-test-model", "production"))) == 2
    assert models.rollback_alias("client-test-model", "production")["version"] == "1.1.0"
    models.delete_alias("client-test-model", "production", if_match="1.1.0")
    assert models.aliases("client-test-model") == []

    actions = [e["action"] for e in models.history("client-test-model")]
    assert "model.version_registered" in actions and "model.version_activated" in actions

    with pytest.raises(Conflict):  # the current version cannot be deleted
        models.delete_version("client-test-model", "1.1.0")
    models.delete_version("client-test-model", "1.2.0")
    assert [d["version"] for d in models.versions("client-test-model")] == ["1.1.0", "1.0.0"]
    models.delete("client-test-model")
    assert not models.exists("client-test-model")
    assert models.restore("client-test-model")["name"] == "client-test-model"


def test_pipelines_policies_and_evaluation(registry):
    registry.models.register(model_document())
    pipeline = {
        "name": "client-pipeline",
        "version": "1.0.0",
        "max_parallel": 2,
        "steps": [
            {"id": "validate", "type": "validation", "depends_on": []},
            {"id": "generate", "type": "inference", "model": "client-test-model", "depends_on": ["validate"]},
        ],
    }
    assert registry.pipelines.validate(pipeline)["valid"] is True
    assert registry.pipelines.register(pipeline)["version"] == "1.0.0"
    order = registry.pipelines.execution_order("client-pipeline")
    assert order["order"] == ["validate", "generate"]
    assert [p["name"] for p in registry.kind("pipelines").iter(model="client-test-model")] == ["client-pipeline"]

    policy = {
        "name": "client-rbac",
        "version": "1.0.0",
        "type": "rbac",
        "priority": 10,
        "rules": [{"subject": "role:ml-engineer", "resource": "api:*", "actions": ["read"], "effect": "allow"}],
    }
    registry.policies.register(policy)
    registry.policies.activate("client-rbac", "1.0.0")
    decision = registry.policies.evaluate("user:alice", "api:models", "read", roles=["role:ml-engineer"])
    assert decision["allowed"] is True
    assert decision["decided_by"]["policy"] == "client-rbac"


def test_bindings_reports_route_and_versions(registry):
    from registry_client import Conflict

    registry.models.register(model_document(region="eu-west-1"))
    binding = registry.bindings.create(
        {
            "model": "client-test-model",
            "version": "1.0.0",
            "provider": "self_hosted",
            "provider_model_id": "meta-llama/Llama-2-7b-chat-hf",
            "endpoint_url": "http://vllm.staging.internal:8000/v1",
            "region": "eu-west-1",
            "environment": "staging",
            "config": {"runtime": "vllm"},
            "cost_per_1k_input_tokens": "0.05",
            "cost_per_1k_output_tokens": "0.05",
        }
    )
    bid = binding["id"]
    assert registry.bindings.get(bid)["provider"] == "self_hosted"
    assert [b["id"] for b in registry.bindings.iter(model="client-test-model")] == [bid]
    assert registry.bindings.list(provider="openai").results == []
    assert [b["id"] for b in registry.models.bindings("client-test-model", "1.0.0")] == [bid]
    assert registry.bindings.update(bid, {"weight": 50})["weight"] == 50

    batch = [{"success": True, "latency_ms": 120}, {"success": False, "latency_ms": 900, "error": "timeout"}]
    first = registry.bindings.report(bid, batch, idempotency_key="batch-0001")
    again = registry.bindings.report(bid, batch, idempotency_key="batch-0001")  # a retried batch counts once
    assert first["accepted"] == 2 and again == first
    assert registry.bindings.get(bid)["request_count"] == 2

    route = registry.route("client-test-model", version="1.0.0", environment="staging")
    assert route["chosen"]["id"] == bid
    assert [v["name"] for v in registry.versions(region="eu-west-1")] == ["client-test-model"]

    assert registry.bindings.disable(bid)["status"] == "disabled"
    assert registry.bindings.enable(bid)["status"] == "active"
    with pytest.raises(Conflict) as in_service:
        registry.bindings.delete(bid)
    assert in_service.value.codes == ["in_service"]
    registry.bindings.disable(bid)
    registry.bindings.delete(bid)
    assert registry.bindings.list().results == []


def test_change_log_webhooks_stats_and_health(registry):
    registry.models.register(model_document())
    registry.models.register(model_document(version="1.1.0"))
    entries = list(registry.changes(kind="model"))
    assert [e["action"] for e in entries][:2] == ["model.version_registered", "model.version_registered"]
    later = list(registry.changes(after_id=entries[0]["id"], kind="model", limit=1))  # cursor pages of one
    assert [e["id"] for e in later] == [e["id"] for e in entries[1:]]

    hook = registry.webhooks.create("http://127.0.0.1:9/hooks/registry", ["model.*"])
    assert hook["secret"].startswith("whsec_")
    assert registry.webhooks.get(hook["id"])["url"] == "http://127.0.0.1:9/hooks/registry"
    assert [w["id"] for w in registry.webhooks.iter()] == [hook["id"]]
    assert registry.webhooks.update(hook["id"], {"events": ["model.*", "alias.moved"]})["events"] == [
        "model.*",
        "alias.moved",
    ]
    registry.webhooks.test(hook["id"])
    from kernel.tasks import deliver_webhooks

    deliver_webhooks()  # the beat job, run here: port 9 refuses, so the attempt is recorded as failed
    delivery = registry.webhooks.deliveries(hook["id"])[0]
    assert delivery["status"] in ("pending", "dead")
    registry.webhooks.redeliver(hook["id"], delivery["id"])
    assert registry.webhooks.rotate_secret(hook["id"])["secret"] != hook["secret"]
    registry.webhooks.delete(hook["id"])

    stats = registry.stats(refresh=True)
    assert "refreshed_at" in stats and "models" in stats
    assert isinstance(registry.retention_stats(), dict)
    registry.models.register(model_document(version="1.2.0"))
    planned = registry.apply_retention(model="client-test-model", keep=1, dry_run=True)
    assert "1.0.0" in json.dumps(planned)
    assert registry.models.get("client-test-model", "1.0.0")["status"] == "active"  # a dry run changes nothing
    assert registry.health()["status"] in ("ok", "degraded")  # this server runs without Redis


def test_lineage_attestation_verified_here_and_by_the_registry(registry):
    from registry_client import verify_envelope
    from registry_client.attestations import load_keys

    address = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    registry.models.register(model_document(metrics={"accuracy": 0.80}))
    improved = model_document(
        version="1.1.0",
        metrics={"accuracy": 0.85},
        derived_from={"model": "client-test-model", "version": "1.0.0", "relation": "finetune"},
        contributors=[{"address": address, "role": "data"}],
    )
    registry.models.register(improved)
    lineage = registry.models.lineage("client-test-model", "1.1.0")
    assert [s["version"] for s in lineage["steps"]] == ["1.0.0", "1.1.0"]
    below = registry.models.lineage("client-test-model", "1.0.0", direction="descendants")
    assert "1.1.0" in json.dumps(below)
    impact = registry.contributor_impact(address.lower())
    assert impact["address"] == address and impact["count"] == 1

    attestation = registry.models.attestation("client-test-model", "1.1.0")
    keys = registry.attestations.keys()
    local = verify_envelope(attestation, load_keys(keys))
    assert local.valid and local.keyid == attestation["key_id"]
    assert local.statement["subject"][0]["name"].startswith("model:client-test-model@1.1.0")  # "#spec": no checksum
    assert registry.attestations.verify(attestation).valid  # keys fetched now
    assert registry.attestations.verify_remote(attestation)["valid"] is True

    tampered = copy.deepcopy(attestation)
    statement = json.loads(base64.b64decode(tampered["envelope"]["payload"]))
    statement["predicate"]["improved"]["metrics"]["accuracy"] = 0.99
    tampered["envelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    assert verify_envelope(tampered, load_keys(keys)).valid is False
    assert registry.attestations.verify_remote(tampered)["valid"] is False


def test_idempotency_key_answers_a_retried_registration_once(registry):
    from registry_client import IdempotencyKeyReused

    doc = model_document()
    first = registry.models.register(doc, idempotency_key="register-client-test-1")
    replay = registry.transport.request(
        "POST", "/api/v1/models", json=doc, headers={"Idempotency-Key": "register-client-test-1"}
    )
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json()["id"] == first["id"]
    with pytest.raises(IdempotencyKeyReused):
        registry.models.register(model_document(version="2.0.0"), idempotency_key="register-client-test-1")
