"""Every problem of a pipeline document in one response, through POST /api/v1/pipelines/validate."""

from __future__ import annotations

import pytest

from kernel.writes.delete import soft_delete
from kernel.writes.lifecycle import archive
from kernel.writes.register import register
from models_app.models import Model
from tests.pipelines_app.conftest import pipeline, step

pytestmark = pytest.mark.django_db

URL = "/api/v1/pipelines/validate"


def validate(api, document) -> dict:
    response = api.post(URL, document, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def issues(report: dict, kind: str = "errors") -> list[tuple[str, str]]:
    return [(issue["path"], issue["code"]) for issue in report[kind]]


def test_the_design_example_is_valid_once_its_model_is_registered(api, pipeline_doc, llama):
    report = validate(api, pipeline_doc)

    assert report == {"valid": True, "errors": [], "warnings": []}


def test_two_separate_cycles_are_reported_together_each_as_its_path(api):
    doc = pipeline(
        step("a", "c"),
        step("b", "a"),
        step("c", "b"),
        step("x", "y"),
        step("y", "x"),
        step("start"),
    )

    report = validate(api, doc)

    cycles = [issue for issue in report["errors"] if issue["code"] == "cycle"]
    assert [c["message"] for c in cycles] == [
        "Steps form a cycle: a -> b -> c -> a.",
        "Steps form a cycle: x -> y -> x.",
    ]
    assert [c["path"] for c in cycles] == ["/steps/0/depends_on/0", "/steps/3/depends_on/0"]
    assert report["valid"] is False


def test_a_pipeline_referencing_an_unregistered_model_names_the_step(api, pipeline_doc):
    report = validate(api, pipeline_doc)

    assert issues(report) == [("/steps/2/model", "model_not_registered")]
    assert "llama2-7b-chat" in report["errors"][0]["message"]


def test_a_deleted_model_counts_as_unregistered(api, pipeline_doc, llama):
    soft_delete(llama)

    assert issues(validate(api, pipeline_doc)) == [("/steps/2/model", "model_not_registered")]


def test_pinned_versions_must_exist_and_not_be_archived(api, pipeline_doc, llama, model_doc):
    register(Model, model_doc(version="1.1.0"))
    archive(llama.versions.get(version="1.1.0"))
    pipeline_doc["steps"][2]["model"] = "llama2-7b-chat@1.1.0"
    pipeline_doc["steps"].append(step("judge", "postprocess", type="evaluation", model="llama2-7b-chat@9.9.9"))
    pipeline_doc["steps"].append(step("again", "judge", type="evaluation", model="llama2-7b-chat@1.0.0+other-build"))
    pipeline_doc["steps"].append(step("bad", "again", type="evaluation", model="llama2-7b-chat@1.x"))

    assert sorted(issues(validate(api, pipeline_doc))) == [
        ("/steps/2/model", "model_version_archived"),
        ("/steps/4/model", "model_version_not_found"),
        ("/steps/6/model", "invalid_version"),
    ]


def test_every_structural_problem_is_listed_in_one_response(api, llama):
    doc = pipeline(
        step("load", timeout_seconds=10),
        step("load", "load"),  # duplicate id, depending on itself
        step("loop", "loop"),  # self dependency
        step("infer", "load", "ghost", type="inference"),  # unknown dependency, no model
        step("slow", "infer", timeout_seconds=120),  # longer than the pipeline
        timeout_seconds=60,
    )

    report = validate(api, doc)

    assert sorted(issues(report)) == sorted(
        [
            ("/steps/1/id", "duplicate_step_id"),
            ("/steps/1/depends_on/0", "self_dependency"),
            ("/steps/2/depends_on/0", "self_dependency"),
            ("/steps/3/depends_on/1", "unknown_dependency"),
            ("/steps/3/model", "model_required"),
            ("/steps/4/timeout_seconds", "timeout_exceeds_pipeline"),
        ]
    )


def test_schema_and_rule_errors_come_together_for_a_malformed_document(api):
    doc = pipeline(
        {"id": "Bad Id", "type": "teleport", "depends_on": "nope", "retry_count": 11},
        step("a", "a"),
        step("b", "a", "a"),
        timeout_seconds=0,
        max_parallel=0,
        on_failure="panic",
        extra=True,
    )

    found = issues(validate(api, doc))

    for expected in [
        ("/extra", "unknown_field"),
        ("/timeout_seconds", "out_of_range"),
        ("/max_parallel", "out_of_range"),
        ("/on_failure", "invalid_choice"),
        ("/steps/0/id", "invalid_format"),
        ("/steps/0/type", "invalid_choice"),
        ("/steps/0/depends_on", "invalid_type"),
        ("/steps/0/retry_count", "out_of_range"),
        ("/steps/1/depends_on/0", "self_dependency"),
        ("/steps/2/depends_on", "duplicate_items"),
    ]:
        assert expected in found


@pytest.mark.parametrize(
    "document", [[], "text", {"steps": "nope"}, {"steps": [None, 1, "x"]}, {"steps": [{"id": 1, "depends_on": [None]}]}]
)
def test_nonsense_is_a_validation_report_not_a_crash(api, document):
    assert validate(api, document)["valid"] is False


def test_the_step_limit_is_a_setting(api, settings):
    settings.MAX_PIPELINE_STEPS = 3
    doc = pipeline(*(step(f"s{i}", *([f"s{i - 1}"] if i else [])) for i in range(4)))

    assert issues(validate(api, doc)) == [("/steps", "too_many_steps")]
    settings.MAX_PIPELINE_STEPS = 4
    assert validate(api, doc)["valid"] is True


def test_fifty_steps_are_accepted_by_default_and_fifty_one_are_not(api):
    chain = [step(f"s{i}", *([f"s{i - 1}"] if i else [])) for i in range(51)]

    assert validate(api, pipeline(*chain[:50]))["valid"] is True
    assert issues(validate(api, pipeline(*chain))) == [("/steps", "too_many_steps")]


def test_a_critical_path_longer_than_the_pipeline_timeout_is_a_warning(api):
    doc = pipeline(
        step("a", timeout_seconds=40),
        step("b", "a", timeout_seconds=40),
        step("c", timeout_seconds=50),
        step("d", "c", "b"),
        timeout_seconds=60,
    )

    report = validate(api, doc)

    assert report["valid"] is True
    assert issues(report, "warnings") == [("/timeout_seconds", "critical_path_exceeds_timeout")]
    assert "a -> b -> d" in report["warnings"][0]["message"] and "80 s" in report["warnings"][0]["message"]


def test_retries_do_not_count_towards_the_timeout_warning(api, pipeline_doc, llama):
    # The DESIGN example could take 1210 s with every retry used, but 305 s by its step timeouts.
    assert validate(api, pipeline_doc)["warnings"] == []


def test_a_disconnected_group_of_steps_is_a_warning_but_an_unused_final_step_is_not(api):
    fan_out = pipeline(step("a"), step("b", "a"), step("c", "a"))
    split = pipeline(step("a"), step("b", "a"), step("x"), step("y", "x"))

    assert validate(api, fan_out)["warnings"] == []
    report = validate(api, split)
    assert report["valid"] is True
    assert issues(report, "warnings") == [("/steps/2", "disconnected_steps")]
    assert "x, y" in report["warnings"][0]["message"]


def test_registration_refuses_an_invalid_document_with_the_same_errors(api):
    doc = pipeline(step("a", "b"), step("b", "a"))

    response = api.post("/api/v1/pipelines", doc, format="json")

    assert response.status_code == 400
    assert [(e["path"], e["code"]) for e in response.json()["errors"]] == [("/steps/0/depends_on/0", "cycle")]


def test_a_dependency_that_is_not_a_step_id_string_is_reported_where_it_is(api):
    doc = pipeline(
        step("a"),
        {"id": "b", "type": "custom", "depends_on": ["a", 7, None]},
        {"id": "b", "type": "custom", "depends_on": [{}]},
    )

    assert issues(validate(api, doc)) == [
        ("/steps/2/id", "duplicate_step_id"),
        ("/steps/1/depends_on/1", "invalid_type"),
        ("/steps/1/depends_on/2", "invalid_type"),
        ("/steps/2/depends_on/0", "invalid_type"),
    ]
