"""Contributors: EIP-55 addresses, weights, and the impact endpoint."""

from __future__ import annotations

import pytest

from models_app.models import Contribution, ModelVersion
from tests.models_app.conftest import ALICE, BOB, CAROL

pytestmark = pytest.mark.django_db


def test_addresses_are_stored_in_eip55_form_whatever_case_was_sent(register):
    register(
        "m",
        "1.0.0",
        contributors=[
            {"address": ALICE.lower(), "role": "data", "weight": 0.5},
            {"address": "0x" + BOB[2:].upper(), "role": "code", "weight": 0.5},
        ],
    )

    assert sorted(Contribution.objects.values_list("address", flat=True)) == sorted([ALICE, BOB])
    assert [c["address"] for c in ModelVersion.objects.get().spec["contributors"]] == [ALICE, BOB]


@pytest.mark.parametrize(
    "contributors, path, code",
    [
        (
            [{"address": ALICE.replace("aAeb", "aaeb"), "role": "data"}],
            "/contributors/0/address",
            "invalid_address",
        ),  # checksum typo
        ([{"address": "0x1234", "role": "data"}], "/contributors/0/address", "invalid_address"),
        ([{"address": ALICE[2:] + "00", "role": "data"}], "/contributors/0/address", "invalid_address"),  # no 0x
        (
            [{"address": ALICE, "role": "data", "weight": 0.6}, {"address": BOB, "role": "code", "weight": 0.6}],
            "/contributors",
            "weights_sum",
        ),
        (
            [{"address": ALICE, "role": "data", "weight": 1}, {"address": BOB, "role": "code"}],
            "/contributors/1/weight",
            "required",
        ),
        (
            [{"address": ALICE, "role": "data"}, {"address": ALICE.lower(), "role": "code"}],
            "/contributors/1/address",
            "duplicate_contributor",
        ),
        ([{"address": ALICE, "role": "data", "weight": 0}], "/contributors/0/weight", "out_of_range"),
        ([{"address": ALICE, "role": "janitor"}], "/contributors/0/role", "invalid_choice"),
    ],
)
def test_invalid_contributors_are_rejected_with_their_path(register, contributors, path, code):
    response = register("m", "1.0.0", contributors=contributors, expect=400)

    assert {"path": path, "code": code} in [{"path": e["path"], "code": e["code"]} for e in response.json()["errors"]]
    assert not ModelVersion.objects.exists() and not Contribution.objects.exists()


def test_weights_are_normalised_to_sum_to_one_and_default_to_equal_shares(register):
    register(
        "m",
        "1.0.0",
        contributors=[
            {"address": ALICE, "role": "data", "weight": 0.6},
            {"address": BOB, "role": "code", "weight": 0.3999},
        ],
    )
    register(
        "m",
        "1.1.0",
        contributors=[
            {"address": ALICE, "role": "data"},
            {"address": BOB, "role": "code"},
            {"address": CAROL, "role": "compute"},
        ],
    )

    first = ModelVersion.objects.get(version="1.0.0").spec["contributors"]
    assert sum(c["weight"] for c in first) == pytest.approx(1, abs=1e-12) and first[0]["weight"] > 0.6
    assert [c["weight"] for c in ModelVersion.objects.get(version="1.1.0").spec["contributors"]] == [
        pytest.approx(1 / 3)
    ] * 3


@pytest.fixture
def contributions(register, signing_key):
    register("chat", "1.0.0", metrics={"accuracy": 0.80, "latency_ms": 50})
    register(
        "chat",
        "1.1.0",
        metrics={"accuracy": 0.85, "latency_ms": 40},
        derived_from=("chat", "1.0.0", "retrain"),
        contributors=[
            {"address": ALICE, "role": "data", "weight": 0.6},
            {"address": BOB, "role": "code", "weight": 0.4},
        ],
    )
    register(
        "chat",
        "1.2.0",
        metrics={"accuracy": 0.84, "latency_ms": 30},
        derived_from=("chat", "1.1.0", "finetune"),
        contributors=[{"address": ALICE, "role": "data"}],
    )
    register("vision", "1.0.0", metrics={"map": 0.5})
    register(
        "vision",
        "1.1.0",
        metrics={"map": 0.6},
        derived_from=("vision", "1.0.0", "finetune"),
        contributors=[
            {"address": ALICE, "role": "compute", "weight": 0.25},
            {"address": CAROL, "role": "data", "weight": 0.75},
        ],
    )


def test_impact_lists_each_version_with_deltas_and_weighted_shares(api, contributions):
    body = api.get(f"/api/v1/contributors/{ALICE}/impact").json()

    assert body["address"] == ALICE and body["count"] == 3
    assert [(r["model"], r["version"]) for r in body["results"]] == [
        ("vision", "1.1.0"),
        ("chat", "1.2.0"),
        ("chat", "1.1.0"),
    ]
    retrain = body["results"][2]
    assert retrain["role"] == "data" and retrain["weight"] == 0.6 and retrain["relation"] == "retrain"
    assert retrain["shares"]["accuracy"] == {"absolute": 0.03, "relative": pytest.approx(0.6 * 0.05 / 0.80)}
    assert retrain["shares"]["latency_ms"]["absolute"] == -6.0  # 0.6 of a 10 ms improvement
    assert "accuracy" not in body["results"][1]["shares"]  # 1.2.0 made accuracy worse: no share of it


def test_impact_totals_are_per_model_and_metric_over_every_page(api, contributions):
    body = api.get(f"/api/v1/contributors/{ALICE}/impact?limit=1").json()

    assert len(body["results"]) == 1 and body["next"]
    totals = body["totals"]
    assert totals["versions"] == 3
    chat, vision = totals["models"]
    assert chat["model"] == "chat" and chat["versions"] == 2
    assert chat["metrics"]["accuracy"] == {"improvements": 1, "weighted_absolute": 0.03, "weighted_relative": 0.0375}
    assert chat["metrics"]["latency_ms"]["improvements"] == 2
    assert chat["metrics"]["latency_ms"]["weighted_absolute"] == -16.0  # 0.6 * -10 + 1.0 * -10
    assert vision["metrics"]["map"]["weighted_absolute"] == 0.025


def test_impact_is_case_insensitive_on_the_address(api, contributions):
    lower = api.get(f"/api/v1/contributors/{ALICE.lower()}/impact").json()
    upper = api.get(f"/api/v1/contributors/0x{ALICE[2:].upper()}/impact").json()
    assert lower["count"] == upper["count"] == 3 and lower["address"] == upper["address"] == ALICE


def test_impact_of_an_address_that_contributed_nothing_is_empty(api, contributions):
    body = api.get("/api/v1/contributors/0x0000000000000000000000000000000000000001/impact").json()
    assert body["count"] == 0 and body["totals"] == {"versions": 0, "models": []}


@pytest.mark.parametrize("address", ["0x123", "alice", "0x" + "g" * 40, ALICE + "0"])
def test_impact_rejects_a_malformed_address(api, address):
    response = api.get(f"/api/v1/contributors/{address}/impact")
    assert response.status_code == 400
    assert response.json()["errors"][0]["parameter"] == "address"


def test_impact_reads_a_page_with_a_bounded_number_of_queries(api, register, django_assert_max_num_queries):
    register("m", "1.0.0", metrics={"a": 1})
    for minor in range(1, 12):
        register(
            "m",
            f"1.{minor}.0",
            metrics={"a": 1 + minor},
            derived_from=("m", f"1.{minor - 1}.0", "retrain"),
            contributors=[{"address": ALICE, "role": "code"}],
        )

    with django_assert_max_num_queries(7):
        body = api.get(f"/api/v1/contributors/{ALICE}/impact").json()
    assert body["count"] == 11 and body["totals"]["models"][0]["metrics"]["a"]["improvements"] == 11
