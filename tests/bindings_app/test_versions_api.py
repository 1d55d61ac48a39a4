"""GET /api/v1/versions: model versions across models with the gateway's filters."""

from __future__ import annotations

import pytest

from kernel.reads.lookups import lookup
from kernel.writes.lifecycle import activate, deprecate
from kernel.writes.register import register, register_version
from models_app.models import Model

pytestmark = pytest.mark.django_db

URL = "/api/v1/versions"


@pytest.fixture
def catalogue(model_doc, make_binding):
    llama = lookup(Model, "llama2-7b-chat", "1.0.0")
    make_binding(region="ap-south-1")
    mistral = activate(
        register(
            Model,
            model_doc(
                name="mistral-7b",
                eval_score=0.82,
                cost_per_1k_tokens=0.2,
                region="eu-west-1",
                capabilities=["completion"],
            ),
        ).version
    )
    mistral_next = register_version(
        Model.get_alive("mistral-7b"),
        model_doc(name="mistral-7b", version="1.1.0", eval_score=0.9, cost_per_1k_tokens=0.6),
    ).version
    falcon = register(Model, model_doc(name="falcon-7b", eval_score=0.6, cost_per_1k_tokens=0.1)).version
    deprecate(falcon)
    return {"llama": llama, "mistral": mistral, "mistral_next": mistral_next, "falcon": falcon}


def names(api, query: str) -> list[str]:
    response = api.get(f"{URL}?{query}")
    assert response.status_code == 200, response.json()
    return [f"{d['name']}@{d['version']}" for d in response.json()["results"]]


def test_every_model_version_newest_first_within_each_model(api, catalogue):
    assert names(api, "") == ["falcon-7b@1.0.0", "llama2-7b-chat@1.0.0", "mistral-7b@1.1.0", "mistral-7b@1.0.0"]


def test_filters(api, catalogue):
    assert names(api, "min_eval_score=0.8") == ["mistral-7b@1.1.0", "mistral-7b@1.0.0"]
    assert names(api, "max_cost=0.3") == ["falcon-7b@1.0.0", "mistral-7b@1.0.0"]
    assert names(api, "region=eu-west-1") == ["mistral-7b@1.0.0"]
    assert names(api, "region=ap-south-1") == ["llama2-7b-chat@1.0.0"]  # through its binding
    assert names(api, "capability=chat") == ["falcon-7b@1.0.0", "llama2-7b-chat@1.0.0", "mistral-7b@1.1.0"]
    assert names(api, "status=deprecated") == ["falcon-7b@1.0.0"]
    assert names(api, "is_current=true") == ["llama2-7b-chat@1.0.0", "mistral-7b@1.0.0"]
    assert names(api, "is_current=true&min_eval_score=0.5&max_cost=1") == ["mistral-7b@1.0.0"]


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("min_eval_score=2", "min_eval_score"),
        ("max_cost=x", "max_cost"),
        ("status=gone", "status"),
        ("region=Not A Region", "region"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(api, db, query, parameter):
    response = api.get(f"{URL}?{query}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["parameter"] == parameter


def test_paginated_with_a_bounded_number_of_queries(api, catalogue, django_assert_max_num_queries):
    api.get(URL)
    with django_assert_max_num_queries(3):
        response = api.get(f"{URL}?limit=2&region=eu-west-1")
    assert response.json()["count"] == 1

    page = api.get(f"{URL}?limit=2&offset=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2
