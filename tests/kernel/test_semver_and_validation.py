from __future__ import annotations

import random

import pytest
import semver

from kernel.rules.semver import InvalidVersion, parse_version
from models_app.validation import model_validator


def test_sort_keys_follow_semver_precedence():
    # The ordering example from semver.org item 11, plus numeric identifiers that string order gets wrong.
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.2.0",
        "1.9.0",
        "1.10.0",
        "2.0.0-rc.9",
        "2.0.0-rc.10",
        "2.0.0",
        "10.0.0",
    ]
    shuffled = ordered[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=lambda v: parse_version(v).sort_tuple()) == ordered
    assert sorted(shuffled, key=semver.Version.parse) == ordered  # the library agrees


def test_build_metadata_is_kept_but_ignored_for_identity():
    a, b = parse_version("1.0.0+build.1"), parse_version("1.0.0+build.2")
    assert a.text == "1.0.0+build.1"
    assert a.identity() == b.identity()


@pytest.mark.parametrize("text", ["1", "1.0", "v1.0.0", "1.0.0.0", "01.0.0", "1.0.0-01", "", " 1.0.0", "1.0.0-"])
def test_invalid_versions_are_refused_with_a_hint(text):
    with pytest.raises(InvalidVersion, match="semver.org"):
        parse_version(text)


def test_validation_reports_every_error_at_once(llama_doc):
    llama_doc.update(name="Bad Name", version="1.0")
    llama_doc["artifact"].update(format="zip", checksum="md5:abc", size_bytes=-1)
    llama_doc["runtime"] = {"type": "vllm", "gpu_memory_utilization": 0, "tensor_parallel_size": 0, "dtype": "float99"}
    llama_doc["requirements"]["cuda_version"] = "eleven"
    llama_doc["eval_score"] = 1.5

    report = model_validator.check(llama_doc)

    paths = {e.path for e in report.errors}
    assert {
        "/name",
        "/version",
        "/artifact/format",
        "/artifact/checksum",
        "/artifact/size_bytes",
        "/runtime/gpu_memory_utilization",
        "/runtime/tensor_parallel_size",
        "/runtime/dtype",
        "/requirements/cuda_version",
        "/eval_score",  # max_model_len is optional: vLLM derives it
    } <= paths
    assert all(e.code and e.message for e in report.errors)
    assert len(report.errors) == len({(e.path, e.code, e.message) for e in report.errors})  # no duplicates


def test_the_design_example_is_valid_without_warnings(llama_doc):
    report = model_validator.check(llama_doc)
    assert report.valid and report.warnings == []


def test_weights_that_do_not_fit_the_stated_gpu_memory_are_a_warning_not_an_error(llama_doc):
    llama_doc["requirements"]["min_gpu_memory_gb"] = 8

    report = model_validator.check(llama_doc)

    assert report.valid
    assert [w.code for w in report.warnings] == ["insufficient_gpu_memory"]
    assert report.warnings[0].path == "/requirements/min_gpu_memory_gb"


def test_artifact_size_limit_is_a_setting(llama_doc, settings):
    settings.MODEL_ARTIFACT_MAX_BYTES = 10**9
    report = model_validator.check(llama_doc)
    assert [(e.path, e.code) for e in report.errors] == [("/artifact/size_bytes", "too_large")]


def test_non_vllm_runtimes_take_their_own_settings(llama_doc):
    llama_doc["runtime"] = {"type": "triton", "model_repository": "s3://x", "instance_count": 2}
    assert model_validator.check(llama_doc).valid


@pytest.mark.django_db
def test_validate_endpoint_returns_errors_and_warnings_without_saving(api, llama_doc):
    from models_app.models import Model

    llama_doc["requirements"]["min_gpu_memory_gb"] = 8
    body = api.post("/api/v1/models/validate", llama_doc, format="json").json()
    assert body["valid"] is True and body["warnings"][0]["code"] == "insufficient_gpu_memory"

    llama_doc["artifact"]["format"] = "zip"
    body = api.post("/api/v1/models/validate", llama_doc, format="json").json()
    assert body == {"valid": False, "errors": [body["errors"][0]], "warnings": body["warnings"]}
    assert body["errors"][0]["path"] == "/artifact/format"
    assert not Model.objects.exists()
