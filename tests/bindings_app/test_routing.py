"""GET /api/v1/route: every candidate ranked with its score and reasons, deterministic, bounded queries."""

from __future__ import annotations

import pytest
from django.test import override_settings

from bindings_app.validation import parse_outcomes
from kernel.writes.register import register_version
from models_app.models import Model

pytestmark = pytest.mark.django_db

ROUTE = "/api/v1/route"


def feed(binding, n: int = 40, *, failures: int = 0, latency_ms: float = 200) -> None:
    binding.report(parse_outcomes([{"success": i >= failures, "latency_ms": latency_ms} for i in range(n)]))


def route(api, query: str) -> dict:
    response = api.get(f"{ROUTE}?{query}")
    assert response.status_code == 200, response.json()
    return response.json()


def test_candidates_are_ranked_best_first_with_scores_and_reasons(api, make_binding):
    slow = make_binding(
        provider="openai", cost_per_1k_input_tokens=0.5, cost_per_1k_output_tokens=0.5, slo_latency_p95_ms=None
    )
    fast = make_binding(provider="anthropic", cost_per_1k_input_tokens=0.5, cost_per_1k_output_tokens=0.5)
    feed(slow, latency_ms=800)
    feed(fast, latency_ms=400)

    body = route(api, "model=llama2-7b-chat")

    assert body["version"] == "1.0.0" and body["sort"] == "balanced"
    assert [c["id"] for c in body["candidates"]] == [fast.pk, slow.pk]
    assert [c["rank"] for c in body["candidates"]] == [1, 2]
    assert body["chosen"]["id"] == fast.pk
    assert body["candidates"][0]["score"] > body["candidates"][1]["score"]
    assert body["candidates"][0]["reasons"] == ["ranked: success 100.0 %, p95 386 ms, $0.50/1k"]


def test_excluded_candidates_say_why_and_come_after_the_ranked(api, make_binding, model_doc):
    ok = make_binding(provider="openai")
    disabled = make_binding(provider="anthropic")
    disabled.disable()
    degraded = make_binding(provider="bedrock", slo_latency_p95_ms=1500)
    feed(degraded, latency_ms=2300)
    elsewhere = make_binding(provider="vertex_ai", region="eu-west-1", config={"project_id": "ml-prod"})
    staging = make_binding(provider="self_hosted", environment="staging")
    pricey = make_binding(
        provider="azure_openai",
        config={"deployment_name": "d", "api_version": "2024-06-01"},
        cost_per_1k_input_tokens=5,
        cost_per_1k_output_tokens=15,
    )

    body = route(api, "model=llama2-7b-chat&region=us-east-1&environment=production&max_cost=2")

    by_id = {c["id"]: c for c in body["candidates"]}
    assert [c["id"] for c in body["candidates"]] == [
        ok.pk,
        disabled.pk,
        degraded.pk,
        elsewhere.pk,
        staging.pk,
        pricey.pk,
    ]
    assert body["chosen"]["id"] == ok.pk
    assert by_id[disabled.pk]["reasons"] == ["excluded: disabled"]
    assert by_id[degraded.pk]["reasons"][0].startswith("excluded: degraded (p95 ")
    assert "> SLO 1500 ms over 15 min)" in by_id[degraded.pk]["reasons"][0]
    assert by_id[elsewhere.pk]["reasons"] == ["excluded: wrong region (eu-west-1, asked us-east-1)"]
    assert by_id[staging.pk]["reasons"] == ["excluded: wrong environment (staging, asked production)"]
    assert by_id[pricey.pk]["reasons"] == ["excluded: cost $10.00/1k > max $2.00/1k"]
    assert all(by_id[i]["score"] is None and by_id[i]["rank"] is None for i in by_id if i != ok.pk)


def test_all_excluded_is_a_200_with_no_choice_and_every_reason(api, make_binding):
    first = make_binding(provider="openai")
    second = make_binding(provider="anthropic", status="pending")
    first.disable()

    body = route(api, "model=llama2-7b-chat&capability=chat")

    assert body["chosen"] is None
    assert [(c["id"], c["reasons"]) for c in body["candidates"]] == [
        (first.pk, ["excluded: disabled"]),
        (second.pk, ["excluded: pending (not enabled yet)"]),
    ]


def test_a_missing_capability_excludes_every_binding(api, make_binding):
    make_binding()

    body = route(api, "model=llama2-7b-chat&capability=embedding")

    assert body["chosen"] is None
    assert body["candidates"][0]["reasons"] == ["excluded: version lacks capability embedding"]


def test_ties_go_to_the_lower_binding_id_every_time(api, make_binding):
    bindings = [make_binding(provider=p) for p in ("anthropic", "openai", "bedrock")]

    answers = {tuple(c["id"] for c in route(api, "model=llama2-7b-chat")["candidates"]) for _ in range(3)}

    assert answers == {tuple(b.pk for b in bindings)}


def test_no_data_is_ranked_as_unknown_not_as_perfect(api, make_binding):
    measured = make_binding(provider="openai")
    unknown = make_binding(provider="anthropic")
    feed(measured, failures=1, latency_ms=300)
    feed(unknown, n=5, latency_ms=1)

    body = route(api, "model=llama2-7b-chat&sort=success")

    assert [c["id"] for c in body["candidates"]] == [measured.pk, unknown.pk]
    assert body["candidates"][1]["reasons"] == ["ranked: no data (5 of 20 samples over 15 min), $1.00/1k"]
    assert body["candidates"][1]["success_rate"] is None and body["candidates"][1]["latency_p95_ms"] is None


def test_sort_by_cost_and_weight_change_the_order(api, make_binding):
    cheap = make_binding(provider="openai", cost_per_1k_input_tokens=0.1, cost_per_1k_output_tokens=0.1)
    dear = make_binding(provider="anthropic", cost_per_1k_input_tokens=1, cost_per_1k_output_tokens=1)
    feed(cheap, latency_ms=900)
    feed(dear, latency_ms=100)

    assert route(api, "model=llama2-7b-chat&sort=cost")["chosen"]["id"] == cheap.pk
    assert route(api, "model=llama2-7b-chat&sort=latency")["chosen"]["id"] == dear.pk
    cheap.change_settings({"weight": 5})
    assert route(api, "model=llama2-7b-chat&sort=cost")["chosen"]["id"] == dear.pk


def test_ranking_weights_are_settings(api, make_binding):
    cheap_slow = make_binding(provider="openai", cost_per_1k_input_tokens=0.1, cost_per_1k_output_tokens=0.1)
    dear_fast = make_binding(provider="anthropic", cost_per_1k_input_tokens=1, cost_per_1k_output_tokens=1)
    feed(cheap_slow, latency_ms=900)
    feed(dear_fast, latency_ms=100)

    with override_settings(ROUTE_WEIGHTS={"success": 0, "latency": 0, "cost": 1}):
        assert route(api, "model=llama2-7b-chat")["chosen"]["id"] == cheap_slow.pk
    with override_settings(ROUTE_WEIGHTS={"success": 0, "latency": 1, "cost": 0}):
        assert route(api, "model=llama2-7b-chat")["chosen"]["id"] == dear_fast.pk


def test_no_version_routes_to_the_current_one_and_a_version_can_be_named(api, make_binding, model_doc, llama):
    newer = register_version(Model.get_alive("llama2-7b-chat"), model_doc(version="2.0.0")).version
    on_current = make_binding()
    on_newer = make_binding(version=newer)

    assert route(api, "model=llama2-7b-chat")["candidates"][0]["id"] == on_current.pk
    named = route(api, "model=llama2-7b-chat&version=2.0.0")
    assert named["version"] == "2.0.0" and named["candidates"][0]["id"] == on_newer.pk
    assert route(api, "model=llama2-7b-chat&version=latest")["version"] == "2.0.0"


@pytest.mark.parametrize(
    "query, status, parameter",
    [
        ("", 400, "model"),
        ("model=Bad Name", 400, "model"),
        ("model=llama2-7b-chat&sort=random", 400, "sort"),
        ("model=llama2-7b-chat&max_cost=-1", 400, "max_cost"),
        ("model=llama2-7b-chat&environment=prod", 400, "environment"),
        ("model=llama2-7b-chat&version=1.0.0&alias=prod", 400, "alias"),
        ("model=nope", 404, "model"),
        ("model=llama2-7b-chat&alias=nope", 404, "alias"),
        ("model=llama2-7b-chat&max_cost=", 400, "max_cost"),
        ("model=llama2-7b-chat&max_cost=.", 400, "max_cost"),
        ("model=llama2-7b-chat&version=one", 400, "version"),
        ("model=llama2-7b-chat&version=7.0.0", 404, "version"),
    ],
)
def test_bad_route_questions_name_the_parameter(api, llama, query, status, parameter):
    response = api.get(f"{ROUTE}?{query}")

    assert response.status_code == status, response.json()
    assert response.json()["errors"][0]["parameter"] == parameter


def test_route_runs_a_bounded_number_of_queries(api, make_binding, django_assert_max_num_queries):
    for region in ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1", "sa-east-1"):
        feed(make_binding(region=region), n=25)
    api.get(f"{ROUTE}?model=llama2-7b-chat")

    with django_assert_max_num_queries(4):
        body = route(api, "model=llama2-7b-chat&environment=production")

    assert len(body["candidates"]) == 6


def test_a_version_without_bindings_says_why_and_names_the_versions_that_have_some(api, make_binding, model_doc):
    make_binding()  # serves 1.0.0
    register_version(Model.objects.get(name="llama2-7b-chat"), model_doc(version="1.1.0"))

    body = route(api, "model=llama2-7b-chat&version=1.1.0")

    assert (body["chosen"], body["candidates"]) == (None, [])
    assert "no provider binding" in body["reason"] and "serve 1.0.0" in body["reason"]


def test_a_chosen_binding_needs_no_reason_and_all_excluded_says_so(api, make_binding):
    binding = make_binding()
    assert route(api, "model=llama2-7b-chat")["reason"] is None

    binding.disable()

    body = route(api, "model=llama2-7b-chat")
    assert body["chosen"] is None and "excluded" in body["reason"]


def test_a_deactivated_version_is_not_routable_until_activated_again(api, make_binding, model_doc, llama):
    newer = register_version(Model.get_alive("llama2-7b-chat"), model_doc(version="2.0.0")).version
    on_newer = make_binding(version=newer)
    assert route(api, "model=llama2-7b-chat&version=2.0.0")["chosen"]["id"] == on_newer.pk

    assert api.post("/api/v1/models/llama2-7b-chat/versions/2.0.0/deactivate").status_code == 200

    body = route(api, "model=llama2-7b-chat&version=2.0.0")
    assert body["chosen"] is None and "excluded" in body["reason"]
    assert "excluded: version 2.0.0 is deprecated (activate it to route)" in body["candidates"][0]["reasons"]

    assert api.post("/api/v1/models/llama2-7b-chat/versions/2.0.0/activate").status_code == 200
    assert route(api, "model=llama2-7b-chat&version=2.0.0")["chosen"]["id"] == on_newer.pk
