"""Query parameters are checked the same way on every endpoint under /api/: an empty value is a 400 naming the
parameter (never "no filter"), a bad date-time names its parameter, and the OpenAPI schema states both (every string
query parameter has ``minLength: 1``; paging parameters carry their bounds)."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from kernel.writes.register import register
from models_app.models import Model
from tests.conftest import example

pytestmark = pytest.mark.django_db


@pytest.fixture
def llama(db):
    model = register(Model, example("models_app", "llama2-7b-chat")).version.model
    return model


def errors_of(response, status: int = 400) -> list[dict]:
    assert response.status_code == status, response.content[:300]
    return response.json()["errors"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/changes?since=",
        "/api/v1/changes?action=&kind=model",
        "/api/v1/models/llama2-7b-chat/history?since=",
        "/api/v1/models/llama2-7b-chat/aliases/champion/history?actor=",
        "/api/v1/bindings?model=",
        "/api/v1/versions?region=",
        "/api/v1/webhooks?limit=",
        "/api/v1/retention/stats?since=",
        "/api/v1/models?tag=",
    ],
)
def test_an_empty_query_value_is_a_400_naming_it_on_every_endpoint(api, llama, path):
    name = path.split("?")[1].split("=")[0]
    errors = errors_of(api.get(path))
    assert errors[0]["parameter"] == name
    assert "empty value" in errors[0]["message"]


def test_since_must_be_a_date_time_on_the_change_log(api, llama):
    errors = errors_of(api.get("/api/v1/changes", {"since": "garbage"}))
    assert [e["parameter"] for e in errors] == ["since"]
    assert api.get("/api/v1/changes", {"since": "2000-01-01T00:00:00Z"}).json()["results"]


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "after_id=-1"])
def test_change_log_paging_out_of_range_is_a_400_naming_the_parameter(api, llama, query):
    assert errors_of(api.get(f"/api/v1/changes?{query}"))[0]["parameter"] == query.split("=")[0]


def test_moving_or_removing_an_alias_takes_no_point_in_time(api, llama):
    assert (
        api.put("/api/v1/models/llama2-7b-chat/aliases/champion", {"version": "1.0.0"}, format="json").status_code
        == 200
    )

    errors = errors_of(api.delete("/api/v1/models/llama2-7b-chat/aliases/champion?at=2020-01-01T00:00:00Z"))

    assert errors[0]["parameter"] == "at"
    assert api.get("/api/v1/models/llama2-7b-chat/aliases/champion").json()["version"] == "1.0.0"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/attestations/verify",
        "/api/v1/retention/apply",
        "/api/v1/attestations/keys",
        "/api/v1/contributors/0x52908400098527886E0F7030069857D2E4169EE7/impact",
    ],
)
def test_options_answers_on_endpoints_without_a_serializer(api, path):
    response = api.options(path)
    assert response.status_code == 200, response.content[:300]
    assert response.json()["renders"] == ["application/json"]


@pytest.fixture(scope="module")
def openapi(django_db_blocker):
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def parameters(openapi, path: str, method: str = "get") -> dict[str, dict]:
    return {p["name"]: p["schema"] for p in openapi["paths"][path][method].get("parameters", []) if p["in"] == "query"}


def test_every_string_query_parameter_is_documented_as_non_empty(openapi):
    loose = [
        f"{method.upper()} {path} {name}"
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        for name, schema in parameters(openapi, path, method).items()
        if schema.get("type") == "string" and "enum" not in schema and schema.get("minLength", 0) < 1
    ]
    assert loose == []


def test_every_operation_documents_the_400_its_query_checks_can_give(openapi):
    undocumented = [
        f"{m.upper()} {p}"
        for p, ops in openapi["paths"].items()
        for m, op in ops.items()
        if "400" not in op["responses"]
    ]
    assert undocumented == []


def test_the_change_log_documents_its_bounds(openapi):
    params = parameters(openapi, "/api/v1/changes")
    assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, 500)
    assert params["since"]["format"] == "date-time"
    assert params["kind"]["maxLength"] == 32


def test_list_responses_are_documented_as_one_page_of_items(openapi):
    for path in ("/api/v1/versions", "/api/v1/models/{name}/versions/{version}/bindings"):
        page = openapi["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        if "$ref" in page:
            page = openapi["components"]["schemas"][page["$ref"].rsplit("/", 1)[1]]
        item = page["properties"]["results"]["items"]
        assert "count" not in openapi["components"]["schemas"][item["$ref"].rsplit("/", 1)[1]].get("properties", {}), (
            path
        )


UNFILTERED_GETS = [
    ("/api/v1/attestations/keys", ()),
    ("/api/v1/contributors/0x0000000000000000000000000000000000000001/impact", ("limit=5", "offset=0")),
    ("/api/v1/models/llama2-7b-chat", ("version=1.0.0",)),
    ("/api/v1/models/llama2-7b-chat/aliases", ()),
    ("/api/v1/models/llama2-7b-chat/versions/1.0.0", ("at=2030-01-01T00:00:00Z",)),
    ("/api/v1/models/llama2-7b-chat/versions/1.0.0/artifacts", ()),
    ("/api/v1/models/llama2-7b-chat/versions/1.0.0/lineage", ("direction=descendants",)),
    ("/api/v1/route?model=llama2-7b-chat", ("version=1.0.0", "sort=cost")),
    ("/api/v1/webhooks", ("limit=5", "offset=0")),
]


@pytest.mark.parametrize("path, known", UNFILTERED_GETS)
def test_an_unknown_query_parameter_is_a_400_naming_it_on_gets_without_a_filterset(api, user, llama, path, known):
    user.is_staff = True  # webhooks are staff-only
    user.save()
    joiner = "&" if "?" in path else "?"
    errors = errors_of(api.get(f"{path}{joiner}stauts=active"))
    assert [e["parameter"] for e in errors] == ["stauts"]
    for parameter in known:
        assert api.get(f"{path}{joiner}{parameter}").status_code != 400, parameter
