"""Conditional GET: a version document carries an ETag, and a client that sends it back gets a 304 until the
document changes."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"


def etag_of(api, path: str) -> str:
    response = api.get(path)
    assert response.status_code == 200
    return response["ETag"]


@pytest.fixture
def registered(api, model_doc):
    assert api.post(URL, model_doc(version="1.0.0"), format="json").status_code == 201


@pytest.mark.parametrize(
    "path", [f"{URL}/llama2-7b-chat", f"{URL}/llama2-7b-chat/versions/1.0.0", f"{URL}/llama2-7b-chat?version=latest"]
)
def test_the_same_document_answers_304_with_an_empty_body(api, registered, path):
    etag = etag_of(api, path)
    response = api.get(path, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response["ETag"] == etag
    assert response.content == b""


def test_an_etag_does_not_bypass_authentication(anon, registered, api):
    etag = etag_of(api, f"{URL}/llama2-7b-chat")
    assert anon.get(f"{URL}/llama2-7b-chat", HTTP_IF_NONE_MATCH=etag).status_code == 401


@pytest.mark.parametrize(
    "change",
    [
        lambda api: api.patch(f"{URL}/llama2-7b-chat", {"tags": ["new"]}, format="json"),
        lambda api: api.patch(f"{URL}/llama2-7b-chat", {"family": "other"}, format="json"),
        lambda api: api.post(f"{URL}/llama2-7b-chat/versions/1.0.0/activate"),
        lambda api: api.post(f"{URL}/llama2-7b-chat/versions/1.0.0/deprecate"),
    ],
)
def test_any_change_to_the_document_changes_the_etag(api, registered, change):
    path = f"{URL}/llama2-7b-chat/versions/1.0.0"
    etag = etag_of(api, path)
    assert change(api).status_code == 200
    response = api.get(path, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert response["ETag"] != etag


def test_a_new_latest_version_is_not_answered_with_the_old_etag(api, registered, model_doc):
    etag = etag_of(api, f"{URL}/llama2-7b-chat")
    api.post(URL, model_doc(version="1.1.0"), format="json")
    response = api.get(f"{URL}/llama2-7b-chat", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert response.json()["version"] == "1.1.0"


def test_the_current_version_moves_with_its_etag(api, registered, model_doc):
    api.post(URL, model_doc(version="1.1.0"), format="json")
    api.post(f"{URL}/llama2-7b-chat/versions/1.0.0/activate")
    etag = etag_of(api, f"{URL}/llama2-7b-chat/versions/current")
    api.post(f"{URL}/llama2-7b-chat/versions/1.1.0/activate")
    response = api.get(f"{URL}/llama2-7b-chat/versions/current", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert response.json()["version"] == "1.1.0"
