"""Free-text search reads text stored on each version row (so GIN indexes can answer it); these check that the
stored text follows every change a search can see."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"


def found(api, text: str) -> list[str]:
    response = api.get(URL, {"search": text})
    assert response.status_code == 200, response.json()
    return [r["name"] for r in response.json()["results"]]


def test_a_family_change_is_searchable_at_once(api, model_doc):
    api.post(URL, model_doc(version="1.0.0"), format="json")
    api.post(URL, model_doc(version="1.1.0"), format="json")
    assert found(api, "llama") == ["llama2-7b-chat"]

    assert api.patch(f"{URL}/llama2-7b-chat", {"family": "vicuna"}, format="json").status_code == 200

    assert found(api, "vicuna") == ["llama2-7b-chat"]
    assert found(api, "icun") == ["llama2-7b-chat"]  # substring
    assert found(api, "llama2-7b") == ["llama2-7b-chat"]  # the name still matches
    assert found(api, "llama ") == ["llama2-7b-chat"]
    api.patch(f"{URL}/llama2-7b-chat", {"description": "nothing in common"}, format="json")
    assert found(api, "Common") == ["llama2-7b-chat"]  # case does not matter


def test_a_registration_that_changes_the_family_updates_older_versions_too(api, model_doc):
    api.post(URL, model_doc(version="1.0.0"), format="json")
    api.post(URL, model_doc(version="1.1.0", family="orca"), format="json")

    assert found(api, "orca") == ["llama2-7b-chat"]
    assert api.get(URL, {"search": "orca", "status": "active"}).json()["count"] == 1


def test_search_does_not_match_across_field_boundaries(api, model_doc):
    api.post(URL, model_doc(name="abc", version="1.0.0", family="def", description=""), format="json")
    assert found(api, "abcdef") == []
    assert found(api, "def") == ["abc"]
