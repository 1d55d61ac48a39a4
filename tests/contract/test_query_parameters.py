"""Every operation in the OpenAPI schema takes exactly the query parameters it declares: any other name is a 400
whose error names it (code ``unknown_parameter``), whatever the method, so a typo such as ``?verison=`` is never
silently ignored; and no declared name is refused as unknown. The operations come from the schema itself, so an
endpoint added later is held to the same rule without this test changing."""

from __future__ import annotations

import re
from functools import cache

import pytest
import yaml
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from kernel.models import ApiKey
from kernel.writes.register import register
from tests.conftest import example

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
# A value for each path parameter; names exist (make run's examples), since a list of a name that does not exist
# is a 404 before its filters are read.
NAMES = {"models": "llama2-7b-chat", "pipelines": "text-generation-pipeline", "policies": "model-access"}
PATH_VALUES = {
    "version": "1.0.0",
    "alias": "prod",
    "filename": "weights.bin",
    "move": "activate",
    "address": "0x" + "ab" * 20,
    "delivery": "0" * 32,
}
ID_VALUES = {"bindings": "1", "webhooks": "1"}


@cache
def operations() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """(method, path, declared query names) of every operation the served schema lists; fetched once per run (each
    fetch generates the whole schema, seconds on the 2-core machine; tests/contract/test_openapi_schema.py shows
    that a second generation in one process gives the same schema)."""
    from django.test import Client

    schema = yaml.safe_load(Client().get("/api/schema/").content)
    return tuple(
        (method, path, tuple(p["name"] for p in item[method].get("parameters", []) if p.get("in") == "query"))
        for path, item in sorted(schema["paths"].items())
        for method in METHODS
        if method in item
    )


def concrete(path: str) -> str:
    def value(match):
        name = match.group(1)
        if name == "name":
            return NAMES[path.split("/")[3]]
        if name == "id":
            collection = path.split("/")[3]
            return ID_VALUES.get(collection, "00000000-0000-0000-0000-000000000000")
        return PATH_VALUES[name]

    return re.sub(r"\{(\w+)\}", value, path)


@pytest.fixture
def staff_api(db) -> APIClient:
    from models_app.models import Model
    from pipelines_app.models import Pipeline
    from policies_app.models import Policy

    register(Model, example("models_app", "llama2-7b-chat"))
    register(Pipeline, example("pipelines_app", "text-generation-pipeline"))
    register(Policy, example("policies_app", "model-access"))
    staff = get_user_model().objects.create_superuser(username="params", email="", password="unused-pass-123")
    _, key = ApiKey.objects.issue(staff)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def send(client: APIClient, method: str, path: str, query: str):
    url = f"{concrete(path)}?{query}"
    if method in ("post", "put", "patch"):
        return getattr(client, method)(url, {}, format="json")
    return getattr(client, method)(url)


def unknown_parameters_in(response) -> list[str]:
    if response["Content-Type"].startswith("application/json") and response.status_code == 400:
        body = response.json()
        if "error_code" in body:  # MLflow's shape (/api/2.0/mlflow): the message names each parameter
            return re.findall(r"Unknown query parameter; [^(]*\(parameter '([^']+)'\)", body["message"])
        return [e.get("parameter") for e in body["errors"] if e["code"] == "unknown_parameter"]
    return []


def test_every_operation_refuses_a_query_parameter_it_does_not_declare(staff_api):
    ignored = []
    for method, path, _ in operations():
        response = send(staff_api, method, path, "verison=1.2.0")
        if unknown_parameters_in(response) != ["verison"]:
            ignored.append(f"{method.upper()} {path} -> {response.status_code}")
    assert not ignored, "unknown query parameters ignored by:\n" + "\n".join(ignored)


def test_no_operation_refuses_a_query_parameter_it_declares_as_unknown(staff_api):
    refused = []
    for method, path, declared in operations():
        for name in declared:
            response = send(staff_api, method, path, f"{name}=1")
            if name in unknown_parameters_in(response):
                refused.append(f"{method.upper()} {path} ?{name}")
    assert not refused, "declared query parameters refused as unknown:\n" + "\n".join(refused)


def test_the_error_says_what_the_endpoint_takes(staff_api):
    body = staff_api.get("/api/v1/models/llama2-7b-chat?verison=1.2.0").json()
    assert body["errors"] == [
        {
            "code": "unknown_parameter",
            "parameter": "verison",
            "message": "Unknown query parameter; this endpoint takes: version.",
            "path": None,
        }
    ]


def test_a_method_the_endpoint_does_not_take_is_a_405_before_its_parameters_are_read(staff_api):
    response = staff_api.generic("TRACE", "/api/v1/stats?refresh=true")
    assert response.status_code == 405
    assert staff_api.generic("TRACE", "/api/v1/models/llama2-7b-chat?version=1.0.0").status_code == 405
