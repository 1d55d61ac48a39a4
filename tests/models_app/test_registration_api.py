"""Registering and reading model versions through the real URL, serializer and database."""

from __future__ import annotations

import pytest

from models_app.models import Model, ModelVersion

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"


def test_register_the_design_example_returns_the_flat_document(api, llama_doc):
    response = api.post(URL, llama_doc, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    for key in (
        "name",
        "version",
        "family",
        "description",
        "artifact",
        "runtime",
        "requirements",
        "capabilities",
        "metadata",
        "tags",
    ):
        assert body[key] == llama_doc[key]
    assert body["status"] == "active" and body["is_current"] is False
    assert body["id"] and body["created_at"] and body["updated_at"]
    assert body["warnings"] == []
    assert response["Location"].endswith("/api/v1/models/llama2-7b-chat/versions/1.0.0")


def test_registering_an_existing_version_is_a_conflict_and_stores_nothing_new(api, llama_doc):
    api.post(URL, llama_doc, format="json")
    llama_doc["description"] = "changed"
    llama_doc["artifact"]["checksum"] = "sha256:" + "c" * 64  # the same digest would be a retry (200)

    response = api.post(URL, llama_doc, format="json")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "version_exists"
    assert response.json()["errors"][0]["path"] == "/version"
    assert ModelVersion.objects.get().description == "Llama 2 7B Chat model"


def test_build_metadata_does_not_make_a_new_version(api, model_doc):
    api.post(URL, model_doc(version="1.0.0+build.1"), format="json")
    again = model_doc(version="1.0.0+build.2")
    again["artifact"]["checksum"] = "sha256:" + "c" * 64  # the same digest would be a retry (200)
    assert api.post(URL, again, format="json").status_code == 409


def test_a_version_lower_than_the_latest_release_is_registered_with_a_warning(api, model_doc):
    api.post(URL, model_doc(version="2.0.0"), format="json")

    response = api.post(URL, model_doc(version="1.9.1"), format="json")

    assert response.status_code == 201
    assert [w["code"] for w in response.json()["warnings"]] == ["lower_than_latest"]


def test_latest_orders_by_semver_not_by_string_or_creation_time(api, model_doc):
    for version in ("1.9.0", "1.10.0", "1.2.0", "2.0.0-rc.1"):
        assert api.post(URL, model_doc(version=version), format="json").status_code == 201

    assert api.get(f"{URL}/llama2-7b-chat").json()["version"] == "1.10.0"
    assert api.get(f"{URL}/llama2-7b-chat/versions/latest").json()["version"] == "1.10.0"
    listed = [v["version"] for v in api.get(f"{URL}/llama2-7b-chat/versions").json()["results"]]
    assert listed == ["2.0.0-rc.1", "1.10.0", "1.9.0", "1.2.0"]


def test_latest_is_a_prerelease_only_when_no_release_exists(api, model_doc):
    api.post(URL, model_doc(version="1.0.0-rc.2"), format="json")
    api.post(URL, model_doc(version="1.0.0-rc.10"), format="json")
    api.post(URL, model_doc(version="1.0.0-beta"), format="json")

    assert api.get(f"{URL}/llama2-7b-chat").json()["version"] == "1.0.0-rc.10"


def test_latest_skips_archived_versions_while_a_live_one_exists(api, model_doc):
    api.post(URL, model_doc(version="1.0.0"), format="json")
    api.post(URL, model_doc(version="2.0.0"), format="json")
    api.post(f"{URL}/llama2-7b-chat/versions/2.0.0/archive")

    assert api.get(f"{URL}/llama2-7b-chat").json()["version"] == "1.0.0"


def test_get_by_version_query_and_by_id(api, model_doc):
    first = api.post(URL, model_doc(version="1.0.0"), format="json").json()
    api.post(URL, model_doc(version="1.1.0"), format="json")

    assert api.get(f"{URL}/llama2-7b-chat?version=1.0.0").json()["id"] == first["id"]
    assert api.get(f"{URL}/id/{first['id']}").json()["version"] == "1.0.0"
    missing = api.get(f"{URL}/id/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["type"] == "client_error"


def test_versions_post_registers_a_new_version_of_an_existing_model(api, model_doc):
    api.post(URL, model_doc(version="1.0.0"), format="json")
    doc = model_doc(version="1.1.0")
    del doc["name"]

    response = api.post(f"{URL}/llama2-7b-chat/versions", doc, format="json")

    assert response.status_code == 201
    assert response.json()["name"] == "llama2-7b-chat"


def test_versions_post_rejects_a_document_naming_another_model(api, model_doc):
    api.post(URL, model_doc(version="1.0.0"), format="json")

    response = api.post(f"{URL}/llama2-7b-chat/versions", model_doc(name="other", version="1.1.0"), format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/name"


def test_versions_post_on_an_unknown_model_is_404(api, model_doc):
    assert api.post(f"{URL}/nope/versions", model_doc(version="1.0.0"), format="json").status_code == 404


def test_unknown_model_and_unknown_version_are_404_with_the_error_shape(api, model_doc):
    api.post(URL, model_doc(), format="json")
    for path in (f"{URL}/missing", f"{URL}/llama2-7b-chat?version=9.9.9", f"{URL}/llama2-7b-chat/versions/9.9.9"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["errors"][0]["message"]


def test_an_invalid_version_in_the_url_is_a_clear_4xx(api, model_doc):
    api.post(URL, model_doc(), format="json")
    response = api.get(f"{URL}/llama2-7b-chat/versions/one.two")
    assert response.status_code == 404
    assert "semantic version" in response.json()["errors"][0]["message"]


def test_reserved_names_are_rejected(api, model_doc):
    response = api.post(URL, model_doc(name="validate"), format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "reserved_name"


def test_delete_is_soft_and_hides_the_model(api, model_doc):
    api.post(URL, model_doc(), format="json")

    assert api.delete(f"{URL}/llama2-7b-chat").status_code == 204

    assert api.get(f"{URL}/llama2-7b-chat").status_code == 404
    assert api.get(URL).json()["count"] == 0
    assert Model.objects.get(name="llama2-7b-chat").deleted_at is not None
    assert ModelVersion.objects.count() == 1  # nothing is lost
    again = api.post(URL, model_doc(version="2.0.0"), format="json")
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "deleted"


def test_versions_post_with_a_non_object_body_is_a_400(api, model_doc):
    api.post(URL, model_doc(), format="json")
    response = api.post(f"{URL}/llama2-7b-chat/versions", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == ""
