"""No input, however malformed, produces a 500: each is a 4xx in the one error shape, and nothing is stored."""

from __future__ import annotations

import json

import pytest

from models_app.models import Model, ModelVersion

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"


def assert_error(response, status: int) -> list[dict]:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["type"] in ("validation_error", "client_error")
    assert body["errors"] and all(e["message"] and e["code"] for e in body["errors"])
    return body["errors"]


def post_raw(api, body: bytes | str, content_type: str = "application/json"):
    return api.generic("POST", URL, body, content_type=content_type)


def nothing_stored() -> bool:
    return not Model.objects.exists() and not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "x",',
        "not json",
        "[1, 2",
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": 1e999}',
        "\ufeff{}",
        '{"a": ' + "9" * 5000 + "}",
    ],
)
def test_malformed_json_is_a_400_naming_the_problem(api, body):
    errors = assert_error(post_raw(api, body), 400)
    assert nothing_stored()
    assert any(word in errors[0]["message"] for word in ("JSON", "finite", "UTF-8"))


def test_invalid_utf8_is_a_400(api):
    assert_error(post_raw(api, b'{"name": "\xff"}'), 400)


def test_a_wrong_content_type_is_a_415(api, llama_doc):
    errors = assert_error(post_raw(api, json.dumps(llama_doc), content_type="text/plain"), 415)
    assert "text/plain" in errors[0]["message"]
    assert nothing_stored()


def test_a_json_array_instead_of_an_object_is_a_400(api):
    errors = assert_error(post_raw(api, "[]"), 400)
    assert errors[0]["path"] == ""


def test_deeply_nested_json_is_a_400_not_a_recursion_error(api):
    body = "[" * 1000 + "]" * 1000  # 2 KB
    errors = assert_error(post_raw(api, body), 400)
    assert "nested deeper" in errors[0]["message"]


def test_deep_nesting_inside_metadata_is_rejected_with_its_path(api, llama_doc):
    nested: dict = {}
    node = nested
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    llama_doc["metadata"] = nested
    errors = assert_error(api.post(URL, llama_doc, format="json"), 400)
    assert "/metadata/x/x" in errors[0]["message"]


def test_an_oversized_body_is_a_413(api, llama_doc, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    llama_doc["description"] = "x" * 5000
    errors = assert_error(api.post(URL, llama_doc, format="json"), 413)
    assert "4096" in errors[0]["message"]
    assert nothing_stored()


def test_nul_bytes_in_the_body_are_a_400_with_the_path(api, llama_doc):
    llama_doc["metadata"] = {"note": "a\u0000b"}
    errors = assert_error(api.post(URL, llama_doc, format="json"), 400)
    assert "/metadata/note" in errors[0]["message"]
    assert nothing_stored()


def test_nul_bytes_in_the_path_or_query_are_a_400(api):
    assert_error(api.get(f"{URL}?search=a%00b"), 400)
    assert_error(api.get(f"{URL}/llama%00"), 400)
    assert_error(api.get(f"{URL}?tag=%00"), 400)


def test_unknown_fields_and_wrong_types_are_all_reported_with_paths(api, llama_doc):
    llama_doc["colour"] = "blue"
    llama_doc["artifact"]["size_bytes"] = "big"
    llama_doc["runtime"]["gpu_memory_utilization"] = 1.5
    llama_doc["tags"] = ["Production"]

    errors = assert_error(api.post(URL, llama_doc, format="json"), 400)

    paths = {e["path"]: e["code"] for e in errors}
    assert paths["/colour"] == "unknown_field"
    assert paths["/artifact/size_bytes"] == "invalid_type"
    assert paths["/runtime/gpu_memory_utilization"] == "out_of_range"
    assert paths["/tags/0"] == "invalid_format"
    assert nothing_stored()


def test_an_invalid_semver_is_a_400_on_version(api, model_doc):
    for bad in ("1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0+", "99999999999.0.0"):
        errors = assert_error(api.post(URL, model_doc(version=bad), format="json"), 400)
        assert errors[0]["path"] == "/version", bad
    assert nothing_stored()


@pytest.mark.parametrize(
    "query",
    [
        "limit=1000000",
        "limit=0",
        "limit=-1",
        "limit=abc",
        "offset=-5",
        "offset=x",
        "status=bogus",
        "created_after=yesterday",
        "ordering=colour",
    ],
)
def test_bad_query_parameters_are_a_400_naming_the_parameter(api, query):
    errors = assert_error(api.get(f"{URL}?{query}"), 400)
    assert errors[0]["parameter"] == query.split("=")[0]


def test_an_unknown_endpoint_is_a_json_404(api):
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_a_wrong_method_is_a_405_in_the_error_shape(api):
    errors = assert_error(api.delete(f"{URL}/validate"), 405)
    assert "DELETE" in errors[0]["message"]


def test_an_uppercase_name_in_the_url_is_a_404(api):
    assert_error(api.get(f"{URL}/Llama"), 404)


def test_options_describes_the_endpoint(api):
    response = api.options(URL)
    assert response.status_code == 200
    assert "application/json" in response.json()["parses"]


@pytest.mark.parametrize("name", [{"a": 1}, ["x"], 7, None, True])
def test_a_name_of_the_wrong_type_is_a_400(api, llama_doc, name):
    llama_doc["name"] = name
    errors = assert_error(api.post(URL, llama_doc, format="json"), 400)
    assert errors[0]["path"] == "/name"


def test_an_out_of_range_retention_setting_is_a_400(api, llama_doc):
    llama_doc["retention_keep"] = 2**40
    errors = assert_error(api.post(URL, llama_doc, format="json"), 400)
    assert errors[0]["path"] == "/retention_keep"
    assert nothing_stored()


@pytest.mark.parametrize(
    "value", ["0505-10-21T22:32:09%2B16:10", "0001-01-01T00:00:00%2B01:00", "9999-12-31T23:59:59-01:00"]
)
def test_created_range_with_extreme_offsets_is_answered_not_crashed(api, value):
    response = api.get(f"{URL}?created_after={value}")
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert response.json()["errors"][0]["parameter"] == "created_after"
