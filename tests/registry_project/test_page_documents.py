"""A page of a list is built by PostgreSQL (registry_project/api/page_documents.py) and must be the document the
serializer writes for a single read: the same keys in the same order, the same values, written the same way
(timestamps, aliases, the definition's own fields, a kind's extras), byte for byte once rendered."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from django.db import connection

from models_app.models import Model, ModelVersion
from pipelines_app.models import Pipeline
from policies_app.models import Policy
from registry_project.api import page_documents
from tests.conftest import example

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def on_postgresql(db):
    if not page_documents.built_by_database():
        pytest.skip("pages are built by the database on PostgreSQL only; SQLite serialises them")


def rendered(value) -> str:
    """Key order included: two documents with the same keys in another order render differently."""
    return json.dumps(value, ensure_ascii=False)


def single_reads(api, url: str, items: list[dict]) -> list[dict]:
    return [api.get(f"{url}/id/{item['id']}").json() for item in items]


def test_a_page_of_models_is_the_document_a_read_returns(api, model_doc):
    for name, family in (("alpha", "llama"), ("beta", ""), ("gamma", "mistral")):
        for version in ("1.0.0", "1.1.0-rc.1"):
            doc = model_doc(name=name, version=version)
            doc["description"] = "Ünïcode – ✓ \"quoted\" \\ back\nslash"
            doc["metadata"] = {"z": 1, "a": [0.1, 1e-7, 9007199254740991, -2.5e-30, None, True], "nested": {"b": {}, "a": []}}
            if family:
                doc["family"] = family
            else:
                doc.pop("family", None)
            response = api.post("/api/v1/models", doc, format="json")
            assert response.status_code in (200, 201), response.json()
    # The definition's own fields, set and unset: retention_keep, metric_directions, its tags and description.
    response = api.patch("/api/v1/models/alpha", {"definition": {"tags": ["team-a"], "description": "the alpha"}}, format="json")
    assert response.status_code == 200, response.json()
    Model.objects.filter(name="gamma").update(retention_keep=3, metric_directions={"accuracy": "higher"})
    # Aliases sort by bytes: '-' < '.' < '_' < letters, which a collation would not keep.
    for alias in ("prod", "a_b", "a.b", "a-b", "ab"):
        assert api.put(f"/api/v1/models/alpha/aliases/{alias}", {"version": "1.0.0"}, format="json").status_code in (200, 201)
    api.post("/api/v1/models/alpha/versions/1.0.0/activate")
    api.post("/api/v1/models/beta/versions/1.0.0/deprecate")
    # A timestamp with no microseconds is written without them; an archived version carries archived_at.
    whole_second = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    ModelVersion.objects.filter(model__name="beta", version="1.0.0").update(created_at=whole_second)
    api.post("/api/v1/models/gamma/versions/1.0.0/archive")
    ModelVersion.objects.filter(model__name="gamma", version="1.0.0").update(archived_at=whole_second.replace(microsecond=7))

    listed = api.get("/api/v1/models?limit=100").json()["results"]
    assert [d["name"] for d in listed] == ["alpha", "beta", "gamma"]
    assert rendered(listed) == rendered(single_reads(api, "/api/v1/models", listed))
    versions = api.get("/api/v1/models/alpha/versions?limit=100").json()["results"]
    assert len(versions) == 2
    assert rendered(versions) == rendered(single_reads(api, "/api/v1/models", versions))
    archived = api.get("/api/v1/models/gamma/versions?status=archived").json()["results"]
    assert rendered(archived) == rendered(single_reads(api, "/api/v1/models", archived))

    # What the comparison rests on, checked in the page itself.
    alpha = listed[0]
    assert list(alpha)[:4] == ["id", "name", "version", "definition"]
    assert alpha["aliases"] == ["a-b", "a.b", "a_b", "ab", "prod"]
    assert alpha["definition"] == {"tags": ["team-a"], "description": "the alpha"}
    beta = api.get("/api/v1/models/beta/versions?limit=100").json()["results"]
    assert rendered(beta) == rendered(single_reads(api, "/api/v1/models", beta))
    assert [d["created_at"] for d in beta if d["version"] == "1.0.0"] == ["2026-01-02T03:04:05Z"]
    assert "family" not in beta[0]
    assert archived[0]["archived_at"] == "2026-01-02T03:04:05.000007Z"
    assert listed[2]["retention_keep"] == 3 and listed[2]["metric_directions"] == {"accuracy": "higher"}


@pytest.mark.parametrize(
    ("url", "app", "names", "definition_model"),
    [
        ("/api/v1/pipelines", "pipelines_app", ["text-generation-pipeline"], Pipeline),
        ("/api/v1/policies", "policies_app", ["model-access", "user-rate-limits"], Policy),
    ],
)
def test_pages_of_other_kinds_are_their_documents_too(api, llama_doc, url, app, names, definition_model):
    assert api.post("/api/v1/models", llama_doc, format="json").status_code == 201  # a pipeline step names it
    for name in names:
        for version in ("1.0.0", "2.0.0"):
            doc = copy.deepcopy(example(app, name))
            doc["version"] = version
            response = api.post(url, doc, format="json")
            assert response.status_code in (200, 201), response.json()
    api.post(f"{url}/{names[0]}/versions/1.0.0/activate")
    listed = api.get(f"{url}?limit=100").json()["results"]
    assert len(listed) == len(names)
    assert rendered(listed) == rendered(single_reads(api, url, listed))
    versions = api.get(f"{url}/{names[0]}/versions").json()["results"]
    assert rendered(versions) == rendered(single_reads(api, url, versions))
    assert definition_model.objects.count() == len(names)


def test_a_page_is_one_query_for_its_rows_and_one_for_its_count(api, model_doc, django_assert_max_num_queries):
    for i in range(30):
        assert api.post("/api/v1/models", model_doc(name=f"m-{i:02d}"), format="json").status_code == 201
    api.get("/api/v1/models?limit=1")  # the key is verified and cached
    # The credential token, the count, the page: no query per row (aliases and the definition come with it).
    with django_assert_max_num_queries(3):
        body = api.get("/api/v1/models?limit=100").json()
    assert len(body["results"]) == 30 and body["count"] == 30
    assert connection.vendor == "postgresql"
