"""Registering, reading and running-order of pipelines through the real URL, serializer and database."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from kernel.writes.register import register
from models_app.models import Model
from pipelines_app.models import Pipeline, PipelineVersion
from tests.pipelines_app.conftest import pipeline, step

pytestmark = pytest.mark.django_db

URL = "/api/v1/pipelines"


def test_register_the_design_example_returns_the_flat_document(api, pipeline_doc, llama):
    response = api.post(URL, pipeline_doc, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    for key in ("name", "version", "timeout_seconds", "max_parallel", "on_failure", "steps"):
        assert body[key] == pipeline_doc[key]
    assert body["status"] == "active" and body["is_current"] is False
    assert body["warnings"] == []
    assert response["Location"].endswith("/api/v1/pipelines/text-generation-pipeline/versions/1.0.0")
    assert api.get(f"{URL}/text-generation-pipeline").json()["steps"] == pipeline_doc["steps"]


def test_execution_order_of_the_design_example(api, pipeline_doc, llama):
    api.post(URL, pipeline_doc, format="json")

    response = api.get(f"{URL}/text-generation-pipeline/execution-order")

    assert response.status_code == 200
    assert response.json() == {
        "name": "text-generation-pipeline",
        "version": "1.0.0",
        "stages": [["validate"], ["preprocess"], ["generate"], ["postprocess"]],
        "levels": [["validate"], ["preprocess"], ["generate"], ["postprocess"]],
        "order": ["validate", "preprocess", "generate", "postprocess"],
        "max_parallel": 2,
        # validate: 5 s x 2 attempts; generate: 300 s x 4 attempts; the others have no timeout.
        "critical_path": {"steps": ["validate", "preprocess", "generate", "postprocess"], "duration_seconds": 1210},
    }


def test_execution_order_splits_wide_levels_and_follows_the_version_parameter(api):
    api.post(
        URL,
        pipeline(step("a"), step("b"), step("c"), step("d", "a", "b", "c"), name="fan", max_parallel=2),
        format="json",
    )
    api.post(URL, pipeline(step("a"), step("b", "a"), name="fan", version="2.0.0"), format="json")

    old = api.get(f"{URL}/fan/execution-order?version=1.0.0").json()
    new = api.get(f"{URL}/fan/execution-order").json()

    assert old["stages"] == [["a", "b"], ["c"], ["d"]] and old["levels"] == [["a", "b", "c"], ["d"]]
    assert new["version"] == "2.0.0" and new["stages"] == [["a"], ["b"]] and new["max_parallel"] is None


def test_execution_order_is_read_in_two_queries(api, django_assert_max_num_queries):
    api.post(URL, pipeline(step("a"), step("b", "a"), name="chain"), format="json")
    with django_assert_max_num_queries(
        2
    ):  # the credential token (the verified-key cache), then the version joined with its pipeline and aliases
        assert api.get(f"{URL}/chain/execution-order").status_code == 200


def test_execution_order_of_unknown_pipelines_and_versions_is_a_404(api):
    api.post(URL, pipeline(step("a"), name="known"), format="json")

    assert api.get(f"{URL}/nope/execution-order").status_code == 404
    assert api.get(f"{URL}/known/execution-order?version=9.0.0").status_code == 404
    assert api.get(f"{URL}/known/execution-order?version=current").json()["errors"][0]["code"] == "no_current"


def test_versions_lifecycle_and_immutability_work_as_for_models(api):
    api.post(URL, pipeline(step("a"), name="flow"), format="json")
    assert (
        api.post(
            f"{URL}/flow/versions", pipeline(step("a"), step("b", "a"), name="flow", version="1.1.0"), format="json"
        ).status_code
        == 201
    )

    assert [v["version"] for v in api.get(f"{URL}/flow/versions").json()["results"]] == ["1.1.0", "1.0.0"]
    assert api.post(f"{URL}/flow/versions/1.0.0/activate").json()["is_current"] is True
    assert api.get(f"{URL}/flow/versions/current").json()["version"] == "1.0.0"
    assert api.patch(f"{URL}/flow", {"description": "two steps", "tags": ["nightly"]}, format="json").json()[
        "tags"
    ] == ["nightly"]
    changed_spec = api.patch(f"{URL}/flow", {"max_parallel": 4}, format="json")
    assert changed_spec.status_code == 409 and changed_spec.json()["errors"][0]["code"] == "spec_immutable"
    assert api.post(URL, pipeline(step("other"), name="flow"), format="json").status_code == 409


def test_list_filters_by_model_tag_status_and_search(api, llama, pipeline_doc, model_doc):
    register(Model, model_doc(name="mistral-7b"))
    api.post(URL, pipeline_doc, format="json")
    api.post(
        URL,
        pipeline(
            step("judge", type="evaluation", model="mistral-7b@1.0.0"),
            name="eval-suite",
            tags=["nightly"],
            description="Scores answers",
        ),
        format="json",
    )
    api.post(URL, pipeline(step("clean"), name="cleanup"), format="json")
    api.post(f"{URL}/cleanup/versions/1.0.0/deprecate")

    def names(query: str) -> list[str]:
        response = api.get(f"{URL}?{query}")
        assert response.status_code == 200, response.json()
        return [p["name"] for p in response.json()["results"]]

    assert names("") == ["cleanup", "eval-suite", "text-generation-pipeline"]
    assert names("model=llama2-7b-chat") == ["text-generation-pipeline"]
    assert names("model=mistral-7b") == ["eval-suite"]  # a pinned reference counts as using the model
    assert names("model=llama2") == []
    assert names("tag=nightly") == ["eval-suite"]
    assert names("status=deprecated") == ["cleanup"]
    assert names("search=answers") == ["eval-suite"]
    assert names("search=generation") == ["text-generation-pipeline"]


def test_bad_filter_values_are_a_400_naming_the_parameter(api):
    response = api.get(f"{URL}?status=sleeping")

    assert response.status_code == 400
    assert response.json()["errors"][0]["parameter"] == "status"


def test_list_query_count_does_not_grow_with_the_number_of_pipelines(api, django_assert_max_num_queries):
    for i in range(30):
        api.post(URL, pipeline(step("a"), step("b", "a"), name=f"p{i:02d}"), format="json")

    with django_assert_max_num_queries(4):  # API key, count, page (+ a spare)
        response = api.get(f"{URL}?limit=100")

    assert response.json()["count"] == 30


def test_a_read_only_key_can_read_and_validate_but_not_register(readonly_api, anon):
    doc = pipeline(step("a"))

    assert readonly_api.post(f"{URL}/validate", doc, format="json").json()["valid"] is True
    assert readonly_api.post(URL, doc, format="json").status_code == 403
    assert readonly_api.get(URL).status_code == 200
    assert anon.get(URL).status_code == 401


def test_the_stored_version_knows_which_models_it_references(api, llama, model_doc):
    register(Model, model_doc(version="1.2.0+build.7"))
    doc = pipeline(
        step("a", type="inference", model="llama2-7b-chat"),
        step("b", "a", type="evaluation", model="llama2-7b-chat@1.2.0"),
        name="refs",
    )
    assert api.post(URL, doc, format="json").status_code == 201

    version = PipelineVersion.objects.get(pipeline__name="refs")

    assert version.model_names == ["llama2-7b-chat"]
    assert version.model_refs == ["llama2-7b-chat", "llama2-7b-chat@1.2.0"]


def test_load_examples_registers_the_example_pipeline_after_its_model(db):
    call_command("load_examples")

    version = Pipeline.objects.get(name="text-generation-pipeline").resolve_version("current")
    assert version.version == "1.0.0"
    assert version.execution_order()["order"] == ["validate", "preprocess", "generate", "postprocess"]


def test_versions_list_query_count_does_not_grow_with_the_number_of_versions(api, django_assert_max_num_queries):
    for minor in range(20):
        api.post(URL, pipeline(step("a"), name="many", version=f"1.{minor}.0"), format="json")

    with django_assert_max_num_queries(4):  # API key, pipeline, count, page
        response = api.get(f"{URL}/many/versions?limit=100")

    assert response.json()["count"] == 20
