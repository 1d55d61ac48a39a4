"""The model registry's and lifecycle service's paths: versions by id, deactivate, a model's whole lineage (#27)."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"
NAME = "llama2-7b-chat"


@pytest.fixture
def two_versions(api, model_doc):
    ids = []
    for version in ("1.0.0", "1.1.0"):
        response = api.post(URL, model_doc(version=version), format="json")
        assert response.status_code == 201
        ids.append(response.json()["id"])
    return ids


def test_a_version_by_id_reads_patches_and_deletes_like_its_named_paths(api, two_versions):
    first, second = two_versions

    got = api.get(f"/api/v1/versions/{first}")
    named = api.get(f"{URL}/{NAME}?version=1.0.0").json()
    patched = api.patch(f"/api/v1/versions/{first}", {"description": "by id", "eval_score": 0.7}, format="json")
    deleted = api.delete(f"/api/v1/versions/{second}")

    assert got.status_code == 200 and got.json() == named
    assert patched.status_code == 200 and patched.json()["description"] == "by id"
    assert api.get(f"{URL}/{NAME}?version=1.0.0").json()["eval_score"] == 0.7
    assert deleted.status_code == 204
    assert api.get(f"/api/v1/versions/{second}").status_code == 404
    assert [v["version"] for v in api.get(f"{URL}/{NAME}/versions").json()["results"]] == ["1.0.0"]


def test_by_id_the_spec_stays_and_the_current_version_is_guarded(api, two_versions):
    first, _ = two_versions
    api.post(f"{URL}/{NAME}/versions/1.0.0/activate")

    changed = api.patch(f"/api/v1/versions/{first}", {"runtime": {"type": "tgi"}}, format="json")
    deleted = api.delete(f"/api/v1/versions/{first}")

    assert changed.status_code == 409 and changed.json()["errors"][0]["code"] == "spec_immutable"
    assert deleted.status_code == 409
    assert api.get(f"/api/v1/versions/{first}").status_code == 200


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_an_unknown_id_is_a_404(api, two_versions, method):
    body = {"description": "x"} if method == "patch" else None
    response = getattr(api, method)(f"/api/v1/versions/{uuid.uuid4()}", body, format="json")

    assert response.status_code == 404
    assert response.json()["errors"][0]["parameter"] == "id"


def test_deactivate_clears_current_and_activate_undoes_it(api, two_versions):
    api.post(f"{URL}/{NAME}/versions/1.1.0/activate")

    deactivated = api.post(f"{URL}/{NAME}/versions/1.1.0/deactivate")

    assert deactivated.status_code == 200
    assert (deactivated.json()["is_current"], deactivated.json()["status"]) == (False, "deprecated")
    assert api.get(f"{URL}/{NAME}/versions/current").status_code == 404
    assert api.get(f"/api/v1/route?model={NAME}").status_code == 404  # no current version to route to
    assert api.post(f"{URL}/{NAME}/versions/1.1.0/activate").json()["is_current"] is True
    entry = api.get("/api/v1/changes?action=model.version_deprecated").json()["results"][-1]
    assert entry["version"] == "1.1.0"


def test_a_models_lineage_lists_every_version_and_every_edge_with_deltas(api, register):
    register("chat", "1.0.0", metrics={"accuracy": 0.8})
    register("chat", "1.1.0", metrics={"accuracy": 0.85}, derived_from=("chat", "1.0.0", "retrain"))
    register("chat", "2.0.0", metrics={"accuracy": 0.9})
    register("chat-small", "1.0.0", metrics={"accuracy": 0.7}, derived_from=("chat", "1.1.0", "distillation"))
    register("base", "1.0.0", metrics={"accuracy": 0.5})
    register("chat", "2.1.0", metrics={"accuracy": 0.95}, derived_from=("base", "1.0.0", "finetune"))

    body = api.get(f"{URL}/chat/lineage").json()

    assert [v["version"] for v in body["versions"]] == ["2.1.0", "2.0.0", "1.1.0", "1.0.0"]
    edges = {(e["from"]["model"], e["from"]["version"], e["to"]["model"], e["to"]["version"]): e for e in body["edges"]}
    assert set(edges) == {
        ("chat", "1.0.0", "chat", "1.1.0"),
        ("base", "1.0.0", "chat", "2.1.0"),
        ("chat", "1.1.0", "chat-small", "1.0.0"),
    }
    assert edges[("chat", "1.0.0", "chat", "1.1.0")]["deltas"]["accuracy"]["absolute"] == pytest.approx(0.05)
    assert edges[("chat", "1.1.0", "chat-small", "1.0.0")]["relation"] == "distillation"
    assert body["truncated"] is False


def test_the_lineage_of_a_missing_model_is_a_404(api):
    assert api.get(f"{URL}/nothing/lineage").status_code == 404
