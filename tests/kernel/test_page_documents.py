"""A page of a list is built by PostgreSQL (kernel/fastpaths/page_documents.py) and must be the document the
serializer writes for a single read: the same keys in the same order, no key twice, the same values, written the
same way (timestamps, aliases, the definition's own fields, a kind's extras). Only whitespace and the notation of
a number (``1e-07`` against ``0.0000001``) may differ."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from django.db import connection

from models_app.models import Model, ModelVersion
from pipelines_app.models import Pipeline
from policies_app.models import Policy
from tests.conftest import example

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def on_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("pages are built by the database on PostgreSQL only; SQLite serialises them")


def pairs(response) -> list:
    """The body as nested lists of (key, value) pairs: key order and a repeated key both show."""
    return json.loads(response.content, object_pairs_hook=list)


def rendered(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def page(api, url: str) -> list:
    """The page's results, as pairs."""
    return dict(pairs(api.get(url)))["results"]


def single_reads(api, url: str, items: list) -> list:
    return [pairs(api.get(f"{url}/id/{dict(item)['id']}")) for item in items]


def test_a_page_of_models_is_the_document_a_read_returns(api, model_doc):
    for name, family in (("alpha", "llama"), ("beta", ""), ("gamma", "mistral")):
        for version in ("1.0.0", "1.1.0-rc.1"):
            doc = model_doc(name=name, version=version)
            doc["description"] = 'Ünïcode – ✓ "quoted" \\ back\nslash \u2028 \u2029 \u0001'
            doc["metadata"] = {
                "z": 1,
                "a": [0.1, 1e-7, 9007199254740991, -2.5e-30, None, True],
                "nested": {"b": {}, "a": []},
            }
            if family:
                doc["family"] = family
            else:
                doc.pop("family", None)
            response = api.post("/api/v1/models", doc, format="json")
            assert response.status_code in (200, 201), response.json()
    # A version derived from another: the model adds derived_from after the mutable fields (ModelVersion.document).
    derived = model_doc(name="delta", version="1.0.0")
    derived["derived_from"] = {"model": "alpha", "version": "1.0.0", "relation": "retrain"}
    response = api.post("/api/v1/models", derived, format="json")
    assert response.status_code == 201, response.json()
    # The definition's own fields, set and unset: retention_keep, metric_directions, its tags and description.
    response = api.patch(
        "/api/v1/models/alpha", {"definition": {"tags": ["team-a"], "description": "the alpha"}}, format="json"
    )
    assert response.status_code == 200, response.json()
    Model.objects.filter(name="gamma").update(retention_keep=3, metric_directions={"accuracy": "higher"})
    # Aliases sort by bytes: '-' < '.' < '_' < letters, which a collation would not keep.
    for alias in ("prod", "a_b", "a.b", "a-b", "ab"):
        assert api.put(f"/api/v1/models/alpha/aliases/{alias}", {"version": "1.0.0"}, format="json").status_code in (
            200,
            201,
        )
    api.post("/api/v1/models/alpha/versions/1.0.0/activate")
    api.post("/api/v1/models/beta/versions/1.0.0/deprecate")
    # A timestamp with no microseconds is written without them; an archived version carries archived_at.
    whole_second = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    ModelVersion.objects.filter(model__name="beta", version="1.0.0").update(created_at=whole_second)
    api.post("/api/v1/models/gamma/versions/1.0.0/archive")
    ModelVersion.objects.filter(model__name="gamma", version="1.0.0").update(
        archived_at=whole_second.replace(microsecond=7)
    )

    listed = page(api, "/api/v1/models?limit=100")
    assert [dict(d)["name"] for d in listed] == ["alpha", "beta", "delta", "gamma"]
    assert rendered(listed) == rendered(single_reads(api, "/api/v1/models", listed))
    versions = page(api, "/api/v1/models/alpha/versions?limit=100")
    assert len(versions) == 2
    assert rendered(versions) == rendered(single_reads(api, "/api/v1/models", versions))
    archived = page(api, "/api/v1/models/gamma/versions?status=archived")
    assert rendered(archived) == rendered(single_reads(api, "/api/v1/models", archived))
    listed, versions, archived = ([dict(d) for d in docs] for docs in (listed, versions, archived))

    # What the comparison rests on, checked in the page itself.
    alpha = listed[0]
    assert list(alpha)[:4] == ["id", "name", "version", "definition"]
    assert alpha["aliases"] == ["a-b", "a.b", "a_b", "ab", "prod"]
    assert alpha["definition"] == [("tags", ["team-a"]), ("description", "the alpha")]
    beta = page(api, "/api/v1/models/beta/versions?limit=100")
    assert rendered(beta) == rendered(single_reads(api, "/api/v1/models", beta))
    beta = [dict(d) for d in beta]
    assert [d["created_at"] for d in beta if d["version"] == "1.0.0"] == ["2026-01-02T03:04:05Z"]
    assert "family" not in beta[0]
    assert archived[0]["archived_at"] == "2026-01-02T03:04:05.000007Z"
    assert listed[2]["derived_from"] == [("model", "alpha"), ("version", "1.0.0"), ("relation", "retrain")]
    assert "derived_from" not in listed[0]
    assert listed[3]["retention_keep"] == 3 and listed[3]["metric_directions"] == [("accuracy", "higher")]


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
    listed = page(api, f"{url}?limit=100")
    assert len(listed) == len(names)
    assert rendered(listed) == rendered(single_reads(api, url, listed))
    versions = page(api, f"{url}/{names[0]}/versions")
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


def test_an_empty_spec_or_one_holding_the_documents_own_keys_still_gives_each_key_once(api, model_doc):
    for name in ("empty", "crowded"):
        assert api.post("/api/v1/models", model_doc(name=name), format="json").status_code == 201
    # Neither can come from the API (registration splits these keys off the spec); a restored backup could.
    ModelVersion.objects.filter(model__name="empty").update(spec={})
    crowded = ModelVersion.objects.get(model__name="crowded")
    ModelVersion.objects.filter(pk=crowded.pk).update(
        spec={**crowded.spec, "status": "forged", "aliases": ["x"], "stored_artifacts": 1}
    )
    listed = page(api, "/api/v1/models?limit=100")
    for document in listed:
        keys = [key for key, _ in document]
        assert len(keys) == len(set(keys)), keys
    by_name = {dict(d)["name"]: dict(d) for d in listed}
    assert by_name["crowded"]["status"] == "active" and by_name["crowded"]["aliases"] == []
    assert by_name["empty"]["tags"] == model_doc()["tags"] and "runtime" not in by_name["empty"]


def test_an_empty_page_and_u2028_are_written_as_drf_writes_them(api, model_doc):
    body = api.get("/api/v1/models?tag=none-such").content
    assert json.loads(body) == {"count": 0, "next": None, "previous": None, "results": [], "count_is_exact": True}
    assert (
        api.post("/api/v1/models", model_doc(name="sep", description="a\u2028b\u2029c"), format="json").status_code
        == 201
    )
    listed = api.get("/api/v1/models").content
    assert b"\\u2028" in listed and b"\\u2029" in listed and "\u2028".encode() not in listed
    assert json.loads(listed)["results"][0]["description"] == "a\u2028b\u2029c"


def test_a_client_asking_for_indented_json_gets_it(api, model_doc):
    assert api.post("/api/v1/models", model_doc(name="indented"), format="json").status_code == 201
    response = api.get("/api/v1/models", HTTP_ACCEPT="application/json; indent=2")
    assert response.status_code == 200 and b'\n  "count": 1' in response.content
    assert response.json()["results"][0]["name"] == "indented"
