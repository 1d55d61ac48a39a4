"""Metrics, derived_from, deltas and the lineage walks in both directions."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from models_app.models import Contribution, Model, ModelVersion
from tests.models_app.conftest import ALICE, BOB

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(register, signing_key):
    """baseline 1.0.0 -> retrain 1.1.0 -> finetune 1.2.0 of one model."""
    register("chat", "1.0.0", metrics={"accuracy": 0.85, "f1": 0.80, "latency_ms": 50})
    register(
        "chat",
        "1.1.0",
        metrics={"accuracy": 0.874, "f1": 0.79, "latency_ms": 41},
        derived_from=("chat", "1.0.0", "retrain"),
        contributors=[
            {"address": ALICE.lower(), "role": "data", "weight": 0.6},
            {"address": BOB, "role": "code", "weight": 0.4},
        ],
    )
    register(
        "chat",
        "1.2.0",
        metrics={"accuracy": 0.9, "f1": 0.83, "latency_ms": 45},
        derived_from=("chat", "1.1.0", "finetune"),
        contributors=[{"address": ALICE, "role": "data"}],
    )


def test_registering_a_derived_version_stores_deltas_by_each_metrics_direction(chain):
    retrain = ModelVersion.objects.get(model__name="chat", version="1.1.0")

    assert retrain.relation == "retrain" and retrain.lineage_depth == 1
    assert retrain.deltas["accuracy"] == {
        "parent": 0.85,
        "value": 0.874,
        "absolute": 0.024,
        "relative": 0.0282352941176,
        "direction": "higher",
        "improved": True,
    }
    assert retrain.deltas["f1"]["improved"] is False
    # latency_ms is lower-is-better registry-wide (METRICS_LOWER_IS_BETTER): 50 -> 41 is an improvement
    assert retrain.deltas["latency_ms"] == {
        "parent": 50,
        "value": 41,
        "absolute": -9.0,
        "relative": -0.18,
        "direction": "lower",
        "improved": True,
    }


def test_a_models_metric_directions_override_the_registry_default(register, settings):
    settings.METRICS_LOWER_IS_BETTER = []
    register("ranker", "1.0.0", metrics={"refusals": 10, "latency_ms": 50}, metric_directions={"refusals": "lower"})
    register("ranker", "1.1.0", metrics={"refusals": 7, "latency_ms": 40}, derived_from=("ranker", "1.0.0", "finetune"))

    deltas = ModelVersion.objects.get(version="1.1.0").deltas
    assert deltas["refusals"]["direction"] == "lower" and deltas["refusals"]["improved"] is True
    assert deltas["latency_ms"]["direction"] == "higher" and deltas["latency_ms"]["improved"] is False


def test_only_shared_metrics_get_deltas_and_a_zero_parent_has_no_relative_change(register):
    register("m", "1.0.0", metrics={"a": 0, "only_parent": 1})
    register("m", "1.1.0", metrics={"a": 2, "only_child": 1}, derived_from=("m", "latest", "retrain"))

    version = ModelVersion.objects.get(version="1.1.0")
    assert list(version.deltas) == ["a"]
    assert version.deltas["a"]["relative"] is None and version.deltas["a"]["absolute"] == 2


def test_lineage_returns_the_chain_from_the_baseline_with_deltas_and_contributors(
    api, chain, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):
        response = api.get("/api/v1/models/chat/versions/1.2.0/lineage")

    assert response.status_code == 200
    body = response.json()
    assert body["direction"] == "ancestors" and body["count"] == 3 and body["truncated"] is False
    steps = body["steps"]
    assert [(s["version"], s["relation"], s["depth"]) for s in steps] == [
        ("1.0.0", None, 0),
        ("1.1.0", "retrain", 1),
        ("1.2.0", "finetune", 2),
    ]
    assert steps[0]["derived_from"] is None and steps[0]["deltas"] == {}
    assert steps[2]["derived_from"] == {"id": steps[1]["id"], "model": "chat", "version": "1.1.0"}
    assert steps[1]["contributors"] == [
        {"address": ALICE, "role": "data", "weight": 0.6},
        {"address": BOB, "role": "code", "weight": 0.4},
    ]
    assert steps[2]["improved"] == ["accuracy", "f1"]
    assert steps[2]["deltas"]["latency_ms"]["improved"] is False
    assert steps[1]["attested"] is True


def test_descendants_are_the_tree_below_a_version_breadth_first(api, register, chain):
    register("chat", "1.1.1", metrics={"accuracy": 0.86}, derived_from=("chat", "1.1.0", "adapter"))

    body = api.get("/api/v1/models/chat/versions/1.0.0/lineage?direction=descendants").json()

    assert [(s["version"], s["depth"]) for s in body["steps"]] == [
        ("1.0.0", 0),
        ("1.1.0", 1),
        ("1.1.1", 2),
        ("1.2.0", 2),
    ]
    by_version = {s["version"]: s for s in body["steps"]}
    assert by_version["1.1.1"]["derived_from"]["version"] == "1.1.0"
    assert by_version["1.1.1"]["relation"] == "adapter"


def test_a_descendants_answer_is_cut_at_the_node_limit_and_says_so(api, register, settings):
    register("wide", "1.0.0", metrics={"a": 1})
    for patch in range(1, 5):
        register("wide", f"1.0.{patch}", metrics={"a": 1 + patch}, derived_from=("wide", "1.0.0", "finetune"))
    settings.LINEAGE_MAX_NODES = 2

    body = api.get("/api/v1/models/wide/versions/1.0.0/lineage?direction=descendants").json()

    assert body["truncated"] is True and body["count"] == 3


def test_lineage_rejects_an_unknown_direction(api, chain):
    response = api.get("/api/v1/models/chat/versions/1.2.0/lineage?direction=sideways")
    assert response.status_code == 400
    assert response.json()["errors"][0]["parameter"] == "direction"


def test_a_version_may_derive_from_another_model(api, register, chain):
    register(
        "chat-awq",
        "1.0.0",
        metrics={"accuracy": 0.89, "latency_ms": 22},
        derived_from=("chat", "1.2.0", "quantization"),
    )

    steps = api.get("/api/v1/models/chat-awq/versions/1.0.0/lineage").json()["steps"]
    assert [f"{s['model']}@{s['version']}" for s in steps] == [
        "chat@1.0.0",
        "chat@1.1.0",
        "chat@1.2.0",
        "chat-awq@1.0.0",
    ]
    descendants = api.get("/api/v1/models/chat/versions/1.2.0/lineage?direction=descendants").json()["steps"]
    assert [s["model"] for s in descendants] == ["chat", "chat-awq"]


def test_a_rename_keeps_the_lineage_intact(api, register, chain):
    register("chat-awq", "1.0.0", metrics={"accuracy": 0.89}, derived_from=("chat", "1.2.0", "quantization"))
    Model.objects.filter(name="chat").update(name="support-chat")

    steps = api.get("/api/v1/models/chat-awq/versions/1.0.0/lineage").json()["steps"]
    assert [s["model"] for s in steps] == ["support-chat"] * 3 + ["chat-awq"]
    document = api.get("/api/v1/models/chat-awq").json()
    assert document["derived_from"] == {"model": "support-chat", "version": "1.2.0", "relation": "quantization"}


def test_a_derived_document_can_be_sent_back_as_returned(api, chain):
    document = api.get("/api/v1/models/chat/versions/1.2.0").json()
    assert document["derived_from"] == {"model": "chat", "version": "1.1.0", "relation": "finetune"}

    response = api.put("/api/v1/models/chat?version=1.2.0", {**document, "description": "edited"}, format="json")
    assert response.status_code == 200, response.json()
    changed = api.put(
        "/api/v1/models/chat?version=1.2.0",
        {**document, "derived_from": {"model": "chat", "version": "1.0.0", "relation": "finetune"}},
        format="json",
    )
    assert changed.status_code == 409 and changed.json()["errors"][0]["code"] == "spec_immutable"


def test_deriving_from_an_unregistered_version_is_rejected_and_stores_nothing(api, register):
    register("base", "1.0.0", metrics={"a": 1})

    response = register("base", "2.0.0", metrics={"a": 2}, derived_from=("base", "9.9.9", "retrain"), expect=400)
    unknown_model = register("other", "1.0.0", derived_from=("nobody", "1.0.0", "retrain"), expect=400)

    assert {
        "path": "/derived_from/version",
        "code": "not_found",
        "message": "Model 'base' has no version 9.9.9.",
    } in response.json()["errors"]
    assert unknown_model.json()["errors"][0]["path"] == "/derived_from/model"
    assert ModelVersion.objects.count() == 1 and not Model.objects.filter(name="other").exists()
    validated = api.post(
        "/api/v1/models/validate",
        {
            **api.get("/api/v1/models/base").json(),
            "version": "2.0.0",
            "derived_from": {"model": "base", "version": "9.9.9", "relation": "merge"},
        },
        format="json",
    )
    assert validated.json()["valid"] is False


def test_a_version_deriving_from_itself_is_rejected_with_the_cycle_path(register):
    register("loop", "1.0.0")

    response = register("loop", "1.1.0", derived_from=("loop", "1.1.0", "finetune"), expect=400)

    error = response.json()["errors"][0]
    assert error["code"] == "lineage_cycle" and error["path"] == "/derived_from"
    assert "loop@1.1.0 -> loop@1.1.0" in error["message"]
    assert ModelVersion.objects.count() == 1


def test_the_database_refuses_a_version_linked_to_itself(register):
    register("loop", "1.0.0")
    version = ModelVersion.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=version.pk).update(derived_from=version, relation="merge", lineage_depth=1)


def test_a_cycle_written_past_the_api_still_gives_a_finite_answer(api, register, settings):
    """Cycles cannot be registered (a parent must exist first and the link never changes); if a raw write made
    one anyway, the walk stops at LINEAGE_MAX_DEPTH and lists each version once."""
    register("a", "1.0.0")
    register("a", "1.1.0", derived_from=("a", "1.0.0", "retrain"))
    child = ModelVersion.objects.get(version="1.1.0")
    ModelVersion.objects.filter(version="1.0.0").update(derived_from=child, relation="merge", lineage_depth=2)
    settings.LINEAGE_MAX_DEPTH = 50

    body = api.get("/api/v1/models/a/versions/1.1.0/lineage").json()

    assert sorted(s["version"] for s in body["steps"]) == ["1.0.0", "1.1.0"]


def test_a_lineage_deeper_than_the_limit_is_rejected(register, settings):
    settings.LINEAGE_MAX_DEPTH = 2
    register("deep", "1.0.0")
    register("deep", "1.1.0", derived_from=("deep", "1.0.0", "retrain"))
    register("deep", "1.2.0", derived_from=("deep", "1.1.0", "retrain"))

    response = register("deep", "1.3.0", derived_from=("deep", "1.2.0", "retrain"), expect=400)
    assert response.json()["errors"][0]["code"] == "lineage_too_deep"


@pytest.mark.parametrize(
    "metrics, path",
    [
        ({"accuracy": "high"}, "/metrics/accuracy"),
        ({"accuracy": 1e16}, "/metrics/accuracy"),
        ({"Bad Name": 1}, "/metrics"),
        ({"accuracy\n": 1}, "/metrics/accuracy\n"),
        ({f"m{i}": 1 for i in range(65)}, "/metrics"),
    ],
)
def test_metrics_are_bounded_numbers_with_slug_names(register, metrics, path):
    response = register("m", "1.0.0", metrics=metrics, expect=400)
    assert path in [e["path"] for e in response.json()["errors"]]


def test_versions_list_renders_derived_from_without_a_query_per_version(api, register, django_assert_max_num_queries):
    register("many", "1.0.0", metrics={"a": 1})
    for minor in range(1, 8):
        register("many", f"1.{minor}.0", metrics={"a": 1 + minor}, derived_from=("many", f"1.{minor - 1}.0", "retrain"))

    with django_assert_max_num_queries(8):
        body = api.get("/api/v1/models/many/versions").json()
    assert body["results"][0]["derived_from"]["version"] == "1.6.0"
    with django_assert_max_num_queries(8):
        listed = api.get("/api/v1/models").json()
    assert listed["results"][0]["derived_from"]["version"] == "1.6.0"


def test_export_record_carries_the_link_deltas_contributors_and_envelope(chain):
    from models_app.lineage.walk import export_record

    record = export_record(ModelVersion.objects.get(version="1.1.0"))

    assert record["derived_from"]["model"] == "chat" and record["derived_from"]["relation"] == "retrain"
    assert record["deltas"]["accuracy"]["improved"] is True
    assert [c["address"] for c in record["contributors"]] == [ALICE, BOB]
    assert record["attestation"]["envelope"]["payloadType"] == "application/vnd.in-toto+json"
    assert export_record(ModelVersion.objects.get(version="1.0.0"))["derived_from"] is None


@pytest.mark.postgres
def test_lineage_on_postgresql_is_one_recursive_query(api, chain, django_assert_max_num_queries):
    assert connection.vendor == "postgresql"
    version = ModelVersion.objects.get(version="1.2.0")
    from models_app.lineage.walk import walk

    with django_assert_max_num_queries(1):
        rows, truncated = walk(version)
    assert [r["version"] for r in rows] == ["1.0.0", "1.1.0", "1.2.0"] and not truncated
    assert Contribution.objects.filter(version=version).count() == 1
