"""The platform's own documents register as written, and a document as GET returned it can be sent back."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from kernel.models.changelog import ChangeLogEntry
from models_app.models import Model, ModelVersion

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"

# The platform specification's Quick Start request: vLLM settings without dtype, an artifact without checksum.
QUICK_START = {
    "name": "llama2-7b-chat",
    "version": "1.0.0",
    "family": "llama",
    "artifact": {"bucket": "mnemos-models", "path": "llama2/7b-chat/v1.0.0", "format": "safetensors"},
    "runtime": {"type": "vllm", "gpu_memory_utilization": 0.9, "max_model_len": 4096, "tensor_parallel_size": 1},
    "capabilities": ["chat", "completion"],
}

# DESIGN.md's examples, verbatim (the checksum placeholder included).
DESIGN_MODEL = {
    "name": "llama2-7b-chat",
    "version": "1.0.0",
    "family": "llama",
    "description": "Llama 2 7B Chat model",
    "artifact": {
        "bucket": "mnemos-models",
        "path": "llama2/7b-chat/v1.0.0",
        "format": "safetensors",
        "size_bytes": 13483847680,
        "checksum": "sha256:...",
    },
    "runtime": {
        "type": "vllm",
        "gpu_memory_utilization": 0.9,
        "max_model_len": 4096,
        "tensor_parallel_size": 1,
        "dtype": "float16",
        "quantization": None,
    },
    "requirements": {"min_gpu_memory_gb": 16, "min_ram_gb": 32, "cuda_version": "11.8"},
    "capabilities": ["chat", "completion"],
    "metadata": {"license": "llama2-license"},
    "tags": ["production", "english"],
}
DESIGN_PIPELINE = {
    "name": "text-generation-pipeline",
    "version": "1.0.0",
    "timeout_seconds": 600,
    "max_parallel": 2,
    "on_failure": "abort",
    "steps": [
        {
            "id": "validate",
            "type": "validation",
            "config": {"max_length": 10000},
            "depends_on": [],
            "timeout_seconds": 5,
            "retry_count": 1,
            "optional": False,
        },
        {"id": "preprocess", "type": "preprocessing", "config": {}, "depends_on": ["validate"]},
        {
            "id": "generate",
            "type": "inference",
            "model": "llama2-7b-chat",
            "config": {"temperature": 0.7},
            "depends_on": ["preprocess"],
            "timeout_seconds": 300,
            "retry_count": 3,
        },
        {"id": "postprocess", "type": "postprocessing", "config": {}, "depends_on": ["generate"]},
    ],
}
DESIGN_POLICY = {
    "name": "user-rate-limits",
    "version": "1.0.0",
    "type": "rate_limit",
    "enforcement": "hard",
    "priority": 100,
    "rules": [
        {"entity": "user:*", "resource": "api:inference", "requests": 100, "window_seconds": 60, "burst": 120},
        {"entity": "user:*", "resource": "api:models", "requests": 50, "window_seconds": 60, "burst": 60},
    ],
}


def test_the_quick_start_request_registers_as_written(api):
    response = api.post(URL, QUICK_START, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["runtime"] == QUICK_START["runtime"]  # vLLM's defaults apply; nothing invented


SCHEMA_REGISTRY_MODEL = {**DESIGN_MODEL, "artifact": {**DESIGN_MODEL["artifact"], "checksum": "sha256:abc123..."}}
EXAMPLES = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("example", "document"),
    [
        ("models_app/examples/llama2-7b-chat.json", DESIGN_MODEL),
        ("pipelines_app/examples/text-generation-pipeline.json", DESIGN_PIPELINE),
        ("policies_app/examples/user-rate-limits.json", DESIGN_POLICY),
    ],
)
def test_make_run_loads_the_specification_documents_as_written(example, document):
    assert json.loads((EXAMPLES / example).read_text()) == document


@pytest.mark.parametrize(
    ("url", "document", "also_has"),
    [
        (URL, DESIGN_MODEL, None),
        (URL, SCHEMA_REGISTRY_MODEL, None),  # another placeholder checksum names no other content
        (URL, QUICK_START, "/runtime/dtype"),  # states less than make run registered, contradicts nothing
        ("/api/v1/pipelines", DESIGN_PIPELINE, None),
        ("/api/v1/policies", DESIGN_POLICY, None),
    ],
)
def test_the_platform_documents_against_make_run_are_retries_never_conflicts(api, url, document, also_has):
    call_command("load_examples", stdout=io.StringIO())
    count = ChangeLogEntry.objects.count()

    response = api.post(url, document, format="json")

    assert response.status_code == 200, response.json()
    note = next(w for w in response.json()["warnings"] if w["code"] == "already_registered")["message"]
    assert (also_has in note) if also_has else ("same spec" in note)
    assert ChangeLogEntry.objects.count() == count  # a retry writes nothing


def test_a_document_stating_another_value_is_still_a_conflict(api):
    call_command("load_examples", stdout=io.StringIO())
    quick_start = {**QUICK_START, "runtime": {**QUICK_START["runtime"], "dtype": "bfloat16"}}

    response = api.post(URL, quick_start, format="json")

    assert response.status_code == 409
    assert response.json()["errors"][0]["details"]["fields"] == ["/runtime/dtype"]


def test_every_design_example_registers_as_written(api):
    model = api.post(URL, DESIGN_MODEL, format="json")
    pipeline = api.post("/api/v1/pipelines", DESIGN_PIPELINE, format="json")
    policy = api.post("/api/v1/policies", DESIGN_POLICY, format="json")

    assert [model.status_code, pipeline.status_code, policy.status_code] == [201, 201, 201], (
        model.json(),
        pipeline.json(),
        policy.json(),
    )
    assert "checksum_placeholder" in [w["code"] for w in model.json()["warnings"]]


def test_a_vllm_runtime_still_rejects_unknown_settings(api):
    document = {**QUICK_START, "runtime": {"type": "vllm", "gpu_memory_utilisation": 0.9}}
    response = api.post(URL, document, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/runtime/gpu_memory_utilisation"


def test_a_document_carries_active_beside_status(api):
    api.post(URL, DESIGN_MODEL, format="json")
    document = api.get(f"{URL}/llama2-7b-chat").json()
    assert (document["status"], document["active"], document["is_current"]) == ("active", True, False)

    api.post(f"{URL}/llama2-7b-chat/versions/1.0.0/deprecate")
    assert api.get(f"{URL}/llama2-7b-chat").json()["active"] is False


def test_a_document_as_get_returned_it_can_be_put_back(api):
    api.post(URL, DESIGN_MODEL, format="json")
    document = api.get(f"{URL}/llama2-7b-chat").json()
    document["description"] = "Chat-tuned"

    response = api.put(f"{URL}/llama2-7b-chat", document, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["description"] == "Chat-tuned"
    ignored = {w["path"] for w in response.json()["warnings"] if w["code"] == "read_only_ignored"}
    assert ignored == {
        "/id",
        "/status",
        "/active",
        "/is_current",
        "/aliases",
        "/stored_artifacts",
        "/created_at",
        "/updated_at",
        "/storage_tier",
        "/archived_at",
        "/purged_at",
    }


def test_a_status_change_through_put_points_to_the_lifecycle_actions(api):
    api.post(URL, DESIGN_MODEL, format="json")
    document = api.get(f"{URL}/llama2-7b-chat").json()

    response = api.put(f"{URL}/llama2-7b-chat", {**document, "status": "archived"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "read_only"
    assert "lifecycle" in response.json()["errors"][0]["message"]
    assert ModelVersion.objects.get().status == "active"


def test_a_document_as_get_returned_it_registers_after_changing_version(api):
    api.post(URL, DESIGN_MODEL, format="json")
    document = api.get(f"{URL}/llama2-7b-chat").json()
    document["version"] = "1.1.0"

    response = api.post(URL, document, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["id"] != document["id"]
    assert "read_only_ignored" in {w["code"] for w in response.json()["warnings"]}


def test_validate_agrees_with_registration_about_read_only_fields(api):
    document = {**DESIGN_MODEL, "id": "x", "status": "archived"}
    report = api.post(f"{URL}/validate", document, format="json").json()
    assert report["valid"] is True
    assert {w["path"] for w in report["warnings"] if w["code"] == "read_only_ignored"} == {"/id", "/status"}


# -- definition-level tags and description -----------------------------------------------------------------------


def test_definition_tags_survive_a_version_registered_without_them(api):
    api.post(URL, DESIGN_MODEL, format="json")
    patched = api.patch(
        f"{URL}/llama2-7b-chat", {"definition": {"tags": ["team-a"], "description": "Our chat model"}}, format="json"
    )
    assert patched.status_code == 200, patched.json()

    api.post(URL, {**DESIGN_MODEL, "version": "1.1.0", "tags": []}, format="json")

    latest = api.get(f"{URL}/llama2-7b-chat").json()
    assert latest["version"] == "1.1.0"
    assert latest["definition"] == {"tags": ["team-a"], "description": "Our chat model"}
    assert latest["tags"] == []
    assert [m["name"] for m in api.get(f"{URL}?tag=team-a").json()["results"]] == ["llama2-7b-chat"]


def test_tag_filter_matches_a_version_tag_or_a_definition_tag(api):
    api.post(URL, DESIGN_MODEL, format="json")  # version tags: production, english
    api.post(URL, {**DESIGN_MODEL, "name": "other", "tags": []}, format="json")
    api.patch(f"{URL}/other", {"definition": {"tags": ["production"]}}, format="json")
    api.post(URL, {**DESIGN_MODEL, "name": "untagged", "tags": []}, format="json")

    names = [m["name"] for m in api.get(f"{URL}?tag=production").json()["results"]]
    assert names == ["llama2-7b-chat", "other"]


def test_patching_the_definition_block_keeps_the_versions_own_fields(api):
    api.post(URL, DESIGN_MODEL, format="json")
    api.patch(f"{URL}/llama2-7b-chat", {"definition": {"description": "Family of chat models"}}, format="json")

    document = api.get(f"{URL}/llama2-7b-chat").json()
    assert document["description"] == "Llama 2 7B Chat model"
    assert document["tags"] == ["production", "english"]
    assert document["definition"] == {"tags": [], "description": "Family of chat models"}


def test_a_bad_definition_block_is_a_400_with_its_path_and_changes_nothing(api):
    api.post(URL, DESIGN_MODEL, format="json")
    response = api.patch(
        f"{URL}/llama2-7b-chat", {"definition": {"tags": ["Not A Slug"], "colour": "red"}}, format="json"
    )

    assert response.status_code == 400
    assert {e["path"] for e in response.json()["errors"]} == {"/definition/tags/0", "/definition/colour"}
    assert Model.objects.get().tags == []


def test_registration_sets_the_definition_block_for_every_kind(api):
    response = api.post("/api/v1/policies", {**DESIGN_POLICY, "definition": {"tags": ["limits"]}}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["definition"] == {"tags": ["limits"], "description": ""}
    assert [p["name"] for p in api.get("/api/v1/policies?tag=limits").json()["results"]] == ["user-rate-limits"]


# -- deleting one version, restoring a definition -----------------------------------------------------------------


@pytest.fixture
def two_versions(api):
    for version in ("1.0.0", "1.1.0"):
        assert api.post(URL, {**DESIGN_MODEL, "version": version}, format="json").status_code == 201


def test_deleting_a_version_takes_it_out_of_every_answer(api, two_versions):
    response = api.delete(f"{URL}/llama2-7b-chat/versions/1.1.0")

    assert response.status_code == 204
    assert api.get(f"{URL}/llama2-7b-chat/versions/1.1.0").status_code == 404
    assert api.get(f"{URL}/llama2-7b-chat").json()["version"] == "1.0.0"
    assert [v["version"] for v in api.get(f"{URL}/llama2-7b-chat/versions").json()["results"]] == ["1.0.0"]
    assert api.get(URL).json()["results"][0]["version"] == "1.0.0"
    assert ModelVersion.objects.filter(version="1.1.0").exists()  # soft: the row stays


def test_a_deleted_version_number_is_never_reused(api, two_versions):
    api.delete(f"{URL}/llama2-7b-chat/versions/1.1.0")
    response = api.post(URL, {**DESIGN_MODEL, "version": "1.1.0"}, format="json")
    assert response.status_code == 409
    assert "deleted" in response.json()["errors"][0]["message"]


def test_the_current_version_cannot_be_deleted(api, two_versions):
    api.post(f"{URL}/llama2-7b-chat/versions/1.1.0/activate")
    response = api.delete(f"{URL}/llama2-7b-chat/versions/1.1.0")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "is_current"


def test_a_version_a_pipeline_pins_cannot_be_deleted(api, two_versions):
    pinned = copy.deepcopy(DESIGN_PIPELINE)
    pinned["steps"][2]["model"] = "llama2-7b-chat@1.1.0"
    assert api.post("/api/v1/pipelines", pinned, format="json").status_code == 201

    response = api.delete(f"{URL}/llama2-7b-chat/versions/1.1.0")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "in_use"
    assert ModelVersion.objects.get(version="1.1.0").deleted_at is None


def test_staff_restore_a_deleted_definition_through_the_api(api, user, two_versions):
    api.delete(f"{URL}/llama2-7b-chat")
    assert api.get(f"{URL}/llama2-7b-chat").status_code == 404

    refused = api.post(f"{URL}/llama2-7b-chat/restore")
    assert refused.status_code == 403
    get_user_model().objects.filter(pk=user.pk).update(is_staff=True)
    restored = api.post(f"{URL}/llama2-7b-chat/restore")

    assert restored.status_code == 200
    assert restored.json()["version"] == "1.1.0"
    assert api.get(f"{URL}/llama2-7b-chat").status_code == 200


def test_restoring_an_unknown_name_is_a_404(api, user):
    get_user_model().objects.filter(pk=user.pk).update(is_staff=True)
    assert api.post(f"{URL}/nothing-here/restore").status_code == 404


def test_messages_read_as_english(api):
    from models_app.models import Model as _  # noqa: F401  (the pipeline's model must exist)

    api.post(URL, DESIGN_MODEL, format="json")
    document = {
        "name": "p",
        "version": "1.0.0",
        "steps": [
            {"id": "a", "type": "inference"},
            {"id": "b", "type": "custom", "depends_on": ["a"]},
            {"id": "orphan", "type": "custom"},
        ],
    }
    report = api.post("/api/v1/pipelines/validate", document, format="json").json()
    messages = {i["code"]: i["message"] for i in report["errors"] + report["warnings"]}
    assert messages["model_required"].startswith("An inference step names")
    assert messages["disconnected_steps"] == "Step orphan is not connected to the rest of the pipeline."


@pytest.mark.parametrize("checksum", ["sha256:abc123...", "sha256:...", "sha256:" + "0" * 63 + "..."])
def test_a_checksum_written_as_a_placeholder_registers_with_a_warning(api, checksum):
    document = copy.deepcopy(DESIGN_MODEL)
    document["artifact"]["checksum"] = checksum

    response = api.post(URL, document, format="json")

    assert response.status_code == 201, response.json()
    warning = next(w for w in response.json()["warnings"] if w["code"] == "checksum_placeholder")
    assert warning["path"] == "/artifact/checksum" and checksum in warning["message"]


@pytest.mark.parametrize("checksum", ["sha256:abc", "sha256:ABC123...", "md5:abc123...", "sha256:" + "0" * 64 + "..."])
def test_a_checksum_that_is_neither_a_digest_nor_a_placeholder_is_a_400(api, checksum):
    document = copy.deepcopy(DESIGN_MODEL)
    document["artifact"]["checksum"] = checksum

    response = api.post(URL, document, format="json")

    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == ["/artifact/checksum"]
