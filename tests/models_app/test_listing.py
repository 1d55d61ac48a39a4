from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"


@pytest.fixture
def catalogue(api, model_doc):
    docs = [
        model_doc(name="llama2-7b-chat", version="1.0.0"),
        model_doc(name="llama2-7b-chat", version="1.1.0", tags=["staging"]),
        model_doc(name="mistral-7b", version="0.1.0", family="mistral", capabilities=["completion"], description="Mistral base"),
        model_doc(name="phi-2", version="2.0.0", family="phi", capabilities=["code"], tags=["small"], description="Tiny coder"),
    ]
    for doc in docs:
        assert api.post(URL, doc, format="json").status_code == 201


def names(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [r["name"] for r in response.json()["results"]]


def test_list_shows_each_models_latest_version(api, catalogue):
    body = api.get(URL).json()
    assert body["count"] == 3
    assert {(r["name"], r["version"]) for r in body["results"]} == {("llama2-7b-chat", "1.1.0"), ("mistral-7b", "0.1.0"), ("phi-2", "2.0.0")}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("family=mistral", ["mistral-7b"]),
        ("tag=staging", ["llama2-7b-chat"]),
        ("tag=production", ["mistral-7b"]),  # the latest llama version is tagged staging only
        ("capability=chat", ["llama2-7b-chat"]),
        ("capability=code", ["phi-2"]),
        ("search=coder", ["phi-2"]),
        ("search=llama2", ["llama2-7b-chat"]),
        ("search=mistral", ["mistral-7b"]),
        ("status=deprecated", []),
        ("ordering=-name", ["phi-2", "mistral-7b", "llama2-7b-chat"]),
        ("ordering=version", ["mistral-7b", "llama2-7b-chat", "phi-2"]),
    ],
)
def test_filters_and_ordering(api, catalogue, query, expected):
    result = names(api.get(f"{URL}?{query}"))
    assert result == expected if "ordering" in query else sorted(result) == sorted(expected)


def test_created_range_filters(api, catalogue):
    assert api.get(f"{URL}?created_after=2000-01-01T00:00:00Z").json()["count"] == 3
    assert api.get(f"{URL}?created_before=2000-01-01T00:00:00Z").json()["count"] == 0


def test_limit_and_offset_paginate(api, catalogue):
    first = api.get(f"{URL}?limit=2").json()
    second = api.get(f"{URL}?limit=2&offset=2").json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["next"]
    assert len(second["results"]) == 1 and second["next"] is None
    assert {r["name"] for r in first["results"] + second["results"]} == {"llama2-7b-chat", "mistral-7b", "phi-2"}


def test_list_query_count_does_not_grow_with_the_page(api, model_doc, django_assert_max_num_queries):
    for i in range(60):
        api.post(URL, model_doc(name=f"model-{i:03d}", version="1.0.0"), format="json")
        api.post(URL, model_doc(name=f"model-{i:03d}", version="1.1.0"), format="json")

    # auth + count + page (with the model joined)
    with django_assert_max_num_queries(3):
        response = api.get(f"{URL}?limit=100")
    assert len(response.json()["results"]) == 60


def test_versions_list_query_count_is_bounded(api, model_doc, django_assert_max_num_queries):
    for i in range(50):
        api.post(URL, model_doc(version=f"1.{i}.0"), format="json")
    with django_assert_max_num_queries(4):
        response = api.get(f"{URL}/llama2-7b-chat/versions?limit=100")
    assert len(response.json()["results"]) == 50


def test_get_by_name_runs_two_queries(api, model_doc, django_assert_max_num_queries):
    api.post(URL, model_doc(), format="json")
    with django_assert_max_num_queries(2):  # the credential token (the verified-key cache), then the version joined with its model and aliases
        assert api.get(f"{URL}/llama2-7b-chat").status_code == 200
