"""GET /api/v1/{kind}/{name}/diff: two versions compared field by field, with a model's metric deltas and lineage."""

from __future__ import annotations

import pytest

from tests.conftest import example
from tests.models_app.test_lineage import chain  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def diff(api, name: str, kind: str = "models", **params):
    return api.get(f"/api/v1/{kind}/{name}/diff", params)


def test_a_diff_names_each_changed_added_and_removed_field_by_pointer_with_both_values(api, register):
    register("chat", "1.0.0", metadata={"license": "mit", "owner": "ml"}, tags=["english"])
    register(
        "chat",
        "1.1.0",
        metadata={"license": "apache-2.0", "notes": "longer context"},
        tags=["english"],
        runtime={"type": "vllm", "gpu_memory_utilization": 0.9, "max_model_len": 8192, "dtype": "bfloat16"},
    )

    response = diff(api, "chat", **{"from": "1.0.0", "to": "1.1.0"})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["from"]["version"], body["to"]["version"]) == ("1.0.0", "1.1.0")
    changed = {entry["path"]: (entry["from"], entry["to"]) for entry in body["changed"]}
    assert changed["/runtime/max_model_len"] == (4096, 8192)
    assert changed["/runtime/dtype"] == ("float16", "bfloat16")
    assert changed["/metadata/license"] == ("mit", "apache-2.0")
    assert {"path": "/metadata/notes", "value": "longer context"} in body["added"]
    assert {"path": "/metadata/owner", "value": "ml"} in body["removed"]
    assert {"path": "/runtime/tensor_parallel_size", "value": 1} in body["removed"]
    assert not any(entry["path"] in ("/version", "/name", "/tags") for entry in body["changed"])
    assert body["truncated"] is False


def test_a_model_diff_gives_metric_deltas_with_the_better_direction_and_the_lineage_between(api, chain):
    body = diff(api, "chat", **{"from": "1.0.0", "to": "1.2.0"}).json()

    assert body["metrics"]["accuracy"] == {
        "from": 0.85,
        "to": 0.9,
        "absolute": 0.05,
        "relative": 0.0588235294118,
        "better": "higher",
        "improved": True,
        "verdict": "improved",
    }
    # latency_ms is lower-is-better: 50 -> 45 improved
    assert body["metrics"]["latency_ms"]["better"] == "lower" and body["metrics"]["latency_ms"]["improved"] is True
    assert body["metrics"]["f1"]["verdict"] == "improved"
    lineage = body["lineage"]
    assert lineage["relation"] == "descendant" and lineage["hops"] == 2
    assert [(step["version"], step["relation"]) for step in lineage["path"]] == [
        ("1.0.0", None),
        ("1.1.0", "retrain"),
        ("1.2.0", "finetune"),
    ]

    backwards = diff(api, "chat", **{"from": "1.2.0", "to": "1.0.0"}).json()
    assert backwards["lineage"]["relation"] == "ancestor"
    assert backwards["metrics"]["accuracy"]["verdict"] == "worse"


def test_without_from_a_model_version_is_compared_with_the_version_it_derives_from(api, chain):
    body = diff(api, "chat", to="1.1.0").json()

    assert body["from"]["version"] == "1.0.0"
    assert body["lineage"] == {"relation": "descendant", "hops": 1, "path": body["lineage"]["path"]}
    assert {"path": "/derived_from", "value": {"model": "chat", "version": "1.0.0", "relation": "retrain"}} in body[
        "added"
    ]


def test_siblings_are_placed_under_their_nearest_common_ancestor(api, register, chain):
    register("chat", "1.1.1", metrics={"accuracy": 0.86}, derived_from=("chat", "1.1.0", "quantization"))

    lineage = diff(api, "chat", **{"from": "1.2.0", "to": "1.1.1"}).json()["lineage"]

    assert lineage["relation"] == "common_ancestor"
    assert lineage["common_ancestor"]["version"] == "1.1.0"


def test_versions_may_be_named_by_keyword_and_alias(api, chain):
    assert api.put("/api/v1/models/chat/aliases/champion", {"version": "1.1.0"}, format="json").status_code == 200

    body = diff(api, "chat", **{"from": "@champion", "to": "latest"}).json()

    assert (body["from"]["version"], body["to"]["version"]) == ("1.1.0", "1.2.0")
    assert body["from"]["aliases"] == ["champion"]


@pytest.mark.parametrize(
    ("params", "status", "code", "parameter"),
    [
        ({"from": "1.0.0"}, 400, "required", "to"),
        ({"from": "1.0.0", "to": "9.9.9"}, 404, "not_found", "to"),
        ({"from": "@nobody", "to": "1.0.0"}, 404, "no_alias", "from"),
        ({"to": "1.0.0"}, 400, "required", "from"),  # a baseline derives from nothing: name `from`
        ({"from": "1.0.0", "to": "1.0.0", "version": "1.0.0"}, 400, None, "version"),
        ({"from": "1" * 200, "to": "1.0.0"}, 400, "too_long", "from"),
    ],
)
def test_a_missing_or_unknown_version_is_an_error_naming_its_parameter(api, chain, params, status, code, parameter):
    response = diff(api, "chat", **params)

    assert response.status_code == status, response.json()
    error = response.json()["errors"][0]
    assert error["parameter"] == parameter and error["message"]
    if code:
        assert error["code"] == code


def test_an_unknown_definition_is_a_404_naming_it(api):
    response = diff(api, "nothing-here", **{"from": "1.0.0", "to": "1.0.1"})

    assert response.status_code == 404
    assert "nothing-here" in response.json()["errors"][0]["message"]


def test_a_pipeline_diff_walks_its_steps(api):
    assert api.post("/api/v1/models", example("models_app", "llama2-7b-chat"), format="json").status_code == 201
    doc = example("pipelines_app", "text-generation-pipeline")
    assert api.post("/api/v1/pipelines", doc, format="json").status_code == 201
    doc["version"] = "1.1.0"
    doc["steps"][2]["config"]["temperature"] = 0.2
    assert api.post("/api/v1/pipelines", doc, format="json").status_code == 201

    body = diff(api, "text-generation-pipeline", kind="pipelines", **{"from": "1.0.0", "to": "1.1.0"}).json()

    assert body["changed"] == [{"path": "/steps/2/config/temperature", "from": 0.7, "to": 0.2}]
    assert body["added"] == [] and body["removed"] == []
    assert "metrics" not in body and "lineage" not in body


def test_a_diff_costs_a_bounded_number_of_queries(api, chain, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        assert diff(api, "chat", **{"from": "1.0.0", "to": "1.2.0"}).status_code == 200


def test_a_diff_lists_at_most_the_bound_and_says_it_was_cut(api, register, monkeypatch):
    from kernel.reads import diff as diff_module

    register("wide", "1.0.0", metadata={f"k{n}": n for n in range(5)})
    register("wide", "1.1.0", metadata={f"k{n}": n + 1 for n in range(5)})
    monkeypatch.setattr(diff_module, "MAX_DIFF_ENTRIES", 3)

    body = diff(api, "wide", **{"from": "1.0.0", "to": "1.1.0"}).json()

    assert [entry["path"] for entry in body["changed"]] == ["/metadata/k0", "/metadata/k1", "/metadata/k2"]
    assert body["truncated"] is True
