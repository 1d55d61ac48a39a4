"""The MLflow-compatible API in process (the SQLite default runs these too): its paths under both prefixes, its
error shape for every kind of refusal, the key as a Bearer token, and the SQL a search costs."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from kernel.models import ApiKey
from kernel.writes.register import register
from models_app.models import Model
from tests.mlflow_compat.conftest import v1_document

pytestmark = pytest.mark.django_db

API = "/api/2.0/mlflow"


@pytest.fixture
def mlflow(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKey.objects.issue(user)[1]}")
    return client


def test_the_ui_prefix_serves_the_same_answers(mlflow):
    register(Model, v1_document("served"))

    for prefix in (API, "/ajax-api/2.0/mlflow"):
        response = mlflow.get(f"{prefix}/registered-models/get?name=served")
        assert response.status_code == 200
        assert response.json()["registered_model"]["latest_versions"][0]["version"] == "1"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("get", "/registered-models/get?name=missing", None, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("get", "/registered-models/get", None, 400, "INVALID_PARAMETER_VALUE"),
        ("get", "/registered-models/get?name=served&nmae=x", None, 400, "INVALID_PARAMETER_VALUE"),
        ("get", "/model-versions/get?name=served&version=one", None, 400, "INVALID_PARAMETER_VALUE"),
        ("post", "/registered-models/create", {"name": "Not A Slug"}, 400, "INVALID_PARAMETER_VALUE"),
        ("post", "/registered-models/create", {"name": "served"}, 400, "RESOURCE_ALREADY_EXISTS"),
        (
            "post",
            "/registered-models/rename",
            {"name": "served", "new_name": "Not A Slug"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("post", "/registered-models/rename", {"name": "missing", "new_name": "x"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        (
            "post",
            "/registered-models/set-tag",
            {"name": "served", "key": "Team", "value": "nlp"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "post",
            "/registered-models/set-tag",
            {"name": "served", "key": "team", "value": "N L P"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        # MLflow requires a set-tag's value: null is none ("" is one)
        (
            "post",
            "/registered-models/set-tag",
            {"name": "served", "key": "team", "value": None},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("post", "/registered-models/set-tag", {"name": "served", "key": "team"}, 400, "INVALID_PARAMETER_VALUE"),
        (
            "post",
            "/model-versions/set-tag",
            {"name": "served", "version": "1", "key": "k", "value": None},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("get", "/registered-models/search?max_results=5000", None, 400, "INVALID_PARAMETER_VALUE"),
        ("get", "/registered-models/search?page_token=garbage", None, 400, "INVALID_PARAMETER_VALUE"),
        ("get", "/registered-models/search?order_by=owner", None, 400, "INVALID_PARAMETER_VALUE"),
        ("get", "/no-such/endpoint", None, 404, "ENDPOINT_NOT_FOUND"),
        ("delete", "/model-versions/delete", {"name": "served", "version": "1"}, 409, "RESOURCE_CONFLICT"),
    ],
)
def test_every_refusal_has_mlflows_shape(mlflow, method, path, body, status, code):
    from kernel.writes.lifecycle import activate

    activate(register(Model, v1_document("served")).version)  # version 1 is current: not deletable

    response = getattr(mlflow, method)(API + path, body, format="json") if body else getattr(mlflow, method)(API + path)

    assert (response.status_code, response.json()["error_code"]) == (status, code), response.content
    assert response.json()["message"]


def test_a_malformed_body_is_invalid_parameter_value(mlflow):
    response = mlflow.post(f"{API}/registered-models/create", "{not json", content_type="application/json")

    assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_credentials_are_refused_in_mlflows_shape(user, anon):
    assert anon.get(f"{API}/registered-models/search").json()["error_code"] == "UNAUTHENTICATED"
    key = ApiKey.objects.issue(user)[1]
    anon.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    refused = anon.get(f"{API}/registered-models/search")
    assert (refused.status_code, refused.json()["error_code"]) == (401, "UNAUTHENTICATED")
    assert "Bearer" in refused.json()["message"]
    anon.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")  # the registry's own scheme is accepted here too
    assert anon.get(f"{API}/registered-models/search").status_code == 200


def test_the_rate_limit_applies_as_on_api_v1(user):
    api_key, key = ApiKey.objects.issue(user)
    ApiKey.objects.filter(pk=api_key.pk).update(rate_limit_per_minute=1, rate_limit_burst=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    assert client.get(f"{API}/registered-models/search").status_code == 200
    limited = client.get(f"{API}/registered-models/search")

    assert (limited.status_code, limited.json()["error_code"]) == (429, "REQUEST_LIMIT_EXCEEDED")
    assert limited["Retry-After"]


def test_a_search_page_costs_the_same_queries_however_many_models_and_versions(mlflow, django_assert_max_num_queries):
    for index in range(20):
        for version in ("1.0.0", "1.1.0"):
            register(Model, v1_document(f"m{index:02d}", version))

    mlflow.get(f"{API}/registered-models/search?max_results=1")  # the key verified and cached
    # The key's credential token, the page of models, their aliases, the versions their documents show (which
    # ones, then those) (+ a spare)
    with django_assert_max_num_queries(6):
        models = mlflow.get(f"{API}/registered-models/search?max_results=50").json()["registered_models"]
    # The key's credential token, the page of versions, their aliases (+ a spare)
    with django_assert_max_num_queries(4):
        versions = mlflow.get(f"{API}/model-versions/search?max_results=100").json()["model_versions"]

    assert len(models) == 20 and all(m["latest_versions"][0]["version"] == "2" for m in models)
    assert len(versions) == 40


def test_like_matches_the_whole_value_not_up_to_a_final_newline(mlflow):
    """``LIKE 'nlp'`` is the whole value: a regular expression ending in ``$`` matched 'nlp\\n' too on SQLite.
    (Version tags take any text; a registered model's are labels, which hold no newline.)"""
    for name, team in (("exact", "nlp"), ("newline", "nlp\n")):
        assert mlflow.post(f"{API}/registered-models/create", {"name": name}, format="json").status_code == 200
        body = {"name": name, "source": "s3://b/p", "tags": [{"key": "team", "value": team}]}
        created = mlflow.post(f"{API}/model-versions/create", body, format="json")
        assert created.status_code == 200, created.json()
    found = mlflow.get(f"{API}/model-versions/search", {"filter": "tags.team LIKE 'nlp'"}).json()
    assert [v["name"] for v in found["model_versions"]] == ["exact"]


def test_a_version_read_costs_a_few_queries(mlflow, django_assert_max_num_queries):
    from kernel.models.aliases import Alias

    register(Model, v1_document("served"))
    Alias.move(Model.get_alive("served"), "champion", "1.0.0")
    mlflow.get(f"{API}/registered-models/search")  # the key verified and cached

    # The key's credential token, the version with its model, its aliases
    with django_assert_max_num_queries(3):
        assert mlflow.get(f"{API}/model-versions/get?name=served&version=1").status_code == 200
    # The key's credential token, the model, the alias, the version with its model, its aliases
    with django_assert_max_num_queries(5):
        answer = mlflow.get(f"{API}/registered-models/alias?name=served&alias=champion")
    assert answer.json()["model_version"]["version"] == "1"


def test_creating_a_tagged_model_is_one_change_and_a_few_statements(mlflow, django_assert_max_num_queries):
    from kernel.models.changelog import ChangeLogEntry

    mlflow.get(f"{API}/registered-models/search")  # the key verified and cached
    tags = [{"key": "team", "value": "nlp"}, {"key": "env", "value": "dev"}]

    # The key's credential token, the name's check, the model's insert, its change-log entry (a savepoint each
    # around the insert and the whole write, in the test's transaction; on SQLite the entry and the webhook
    # subscriptions' check are two statements, one on PostgreSQL)
    with django_assert_max_num_queries(9):
        answer = mlflow.post(f"{API}/registered-models/create", {"name": "tagged", "tags": tags}, format="json")

    assert answer.status_code == 200, answer.json()
    assert answer.json()["registered_model"]["tags"] == sorted(tags, key=lambda tag: tag["key"])
    entries = ChangeLogEntry.objects.filter(kind="model", name="tagged")
    assert [e.action for e in entries] == ["model.created"]
    assert entries[0].changes["labels"] == [None, {"team": "nlp", "env": "dev"}]
    assert Model.get_alive("tagged").labels == {"team": "nlp", "env": "dev"}
