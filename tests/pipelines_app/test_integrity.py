"""Pipelines protect the models they run: the model app asks a guard the pipeline app registered."""

from __future__ import annotations

import pytest

from kernel.writes.register import register as do_register
from models_app.models import Model
from tests.pipelines_app.conftest import pipeline, step

pytestmark = pytest.mark.django_db

MODELS = "/api/v1/models"
PIPELINES = "/api/v1/pipelines"


@pytest.fixture
def two_llama_versions(llama, model_doc):
    do_register(Model, model_doc(version="1.1.0"))
    return llama


def register(api, *steps, name="uses-llama", **fields):
    response = api.post(PIPELINES, pipeline(*steps, name=name, **fields), format="json")
    assert response.status_code == 201, response.json()


def test_archiving_a_pinned_model_version_is_a_409_naming_the_pipeline(api, two_llama_versions):
    register(api, step("gen", type="inference", model="llama2-7b-chat@1.0.0"))

    response = api.post(f"{MODELS}/llama2-7b-chat/versions/1.0.0/archive")

    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error["code"] == "in_use"
    assert "pipeline uses-llama@1.0.0" in error["message"]
    assert api.get(f"{MODELS}/llama2-7b-chat?version=1.0.0").json()["status"] == "active"
    # Only the pinned version is held back.
    assert api.post(f"{MODELS}/llama2-7b-chat/versions/1.1.0/archive").status_code == 200


def test_deleting_a_referenced_model_is_a_409_naming_every_pipeline(api, pipeline_doc, llama):
    api.post(PIPELINES, pipeline_doc, format="json")
    register(api, step("judge", type="evaluation", model="llama2-7b-chat@1.0.0"), name="eval")

    response = api.delete(f"{MODELS}/llama2-7b-chat")

    assert response.status_code == 409
    assert response.json()["errors"][0]["details"]["dependents"] == [
        "pipeline eval@1.0.0",
        "pipeline text-generation-pipeline@1.0.0",
    ]
    assert api.get(f"{MODELS}/llama2-7b-chat").status_code == 200


def test_an_unpinned_reference_holds_back_only_the_models_last_live_version(api, pipeline_doc, two_llama_versions):
    api.post(PIPELINES, pipeline_doc, format="json")

    assert api.post(f"{MODELS}/llama2-7b-chat/versions/1.1.0/archive").status_code == 200
    last = api.post(f"{MODELS}/llama2-7b-chat/versions/1.0.0/archive")

    assert last.status_code == 409
    assert "text-generation-pipeline@1.0.0" in last.json()["errors"][0]["message"]


def test_only_active_pipeline_versions_protect_models(api, pipeline_doc, llama):
    api.post(PIPELINES, pipeline_doc, format="json")
    api.post(f"{PIPELINES}/text-generation-pipeline/versions/1.0.0/deprecate")

    assert api.post(f"{MODELS}/llama2-7b-chat/versions/1.0.0/archive").status_code == 200
    assert api.delete(f"{MODELS}/llama2-7b-chat").status_code == 204


def test_a_deleted_pipeline_protects_nothing(api, pipeline_doc, llama):
    api.post(PIPELINES, pipeline_doc, format="json")
    assert api.delete(f"{PIPELINES}/text-generation-pipeline").status_code == 204

    assert api.delete(f"{MODELS}/llama2-7b-chat").status_code == 204


def test_a_model_that_shares_a_prefix_with_a_referenced_one_is_not_protected(api, pipeline_doc, llama, model_doc):
    do_register(Model, model_doc(name="llama2-7b"))
    api.post(PIPELINES, pipeline_doc, format="json")

    assert api.delete(f"{MODELS}/llama2-7b").status_code == 204


def test_retention_keeps_a_version_a_pipeline_pins(api, llama, model_doc):
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        do_register(Model, model_doc(version=version))
    register(api, step("gen", type="inference", model="llama2-7b-chat@1.0.0"))

    archived = llama.apply_retention(keep=1)

    assert sorted(v.version for v in archived) == ["1.1.0", "1.2.0"]
    assert llama.versions.get(version="1.0.0").status == "active"


def test_an_alias_a_pipeline_step_names_cannot_be_deleted_but_can_move(api, two_llama_versions):
    api.put(f"{MODELS}/llama2-7b-chat/aliases/production", {"version": "1.0.0"}, format="json")
    register(api, step("gen", type="inference", model="llama2-7b-chat@production"))

    refused = api.delete(f"{MODELS}/llama2-7b-chat/aliases/production")

    assert refused.status_code == 409
    error = refused.json()["errors"][0]
    assert error["code"] == "in_use"
    assert error["details"]["dependents"] == ["pipeline uses-llama@1.0.0 at /steps/0/model"]
    assert api.get(f"{MODELS}/llama2-7b-chat/aliases/production").json()["version"] == "1.0.0"
    # Moving it keeps the step resolvable, so that stays allowed; once the pipeline is out of service, so is deletion.
    assert (
        api.put(f"{MODELS}/llama2-7b-chat/aliases/production", {"version": "1.1.0"}, format="json").status_code == 200
    )
    assert api.post(f"{PIPELINES}/uses-llama/versions/1.0.0/deprecate").status_code == 200
    assert api.delete(f"{MODELS}/llama2-7b-chat/aliases/production").status_code == 204


def test_a_step_naming_an_alias_of_a_deleted_model_is_a_400_at_the_steps_reference(api, two_llama_versions):
    api.put(f"{MODELS}/llama2-7b-chat/aliases/production", {"version": "1.0.0"}, format="json")
    assert api.delete(f"{MODELS}/llama2-7b-chat").status_code == 204  # its aliases stay, for a restore

    response = api.post(
        PIPELINES,
        pipeline(step("prep"), step("gen", "prep", type="inference", model="llama2-7b-chat@production")),
        format="json",
    )

    assert response.status_code == 400, response.json()
    assert [(e["path"], e["code"]) for e in response.json()["errors"]] == [("/steps/1/model", "model_not_registered")]
    assert api.get(f"{PIPELINES}/p").status_code == 404


def test_deleting_an_alias_a_step_names_is_a_409_naming_each_pipeline_and_the_steps_path(api, two_llama_versions):
    api.put(f"{MODELS}/llama2-7b-chat/aliases/production", {"version": "1.0.0"}, format="json")
    register(api, step("prep"), step("gen", "prep", type="inference", model="llama2-7b-chat@production"))
    register(api, step("judge", type="evaluation", model="llama2-7b-chat@production"), name="eval")

    refused = api.delete(f"{MODELS}/llama2-7b-chat/aliases/production")

    assert refused.status_code == 409
    error = refused.json()["errors"][0]
    assert error["details"]["dependents"] == [
        "pipeline eval@1.0.0 at /steps/0/model",
        "pipeline uses-llama@1.0.0 at /steps/1/model",
    ]
    assert "pipeline uses-llama@1.0.0 at /steps/1/model" in error["message"]
    assert api.get(f"{MODELS}/llama2-7b-chat/aliases/production").status_code == 200
