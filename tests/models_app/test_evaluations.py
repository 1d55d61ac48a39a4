"""Evaluation results and prices that arrive after registration (issue #27)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"
NAME = "llama2-7b-chat"


@pytest.fixture
def registered(api, model_doc):
    response = api.post(URL, model_doc(eval_score=0.8, cost_per_1k_tokens=0.5), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_patching_eval_score_and_price_changes_them_and_logs_both_values(api, registered):
    before = api.get(f"{URL}/{NAME}").json()
    response = api.patch(f"{URL}/{NAME}?version=1.0.0", {"eval_score": 0.9, "cost_per_1k_tokens": 0.25}, format="json")

    assert response.status_code == 200, response.json()
    document = api.get(f"{URL}/{NAME}").json()
    assert (document["eval_score"], document["cost_per_1k_tokens"]) == (0.9, 0.25)
    assert list(document) == list(before)  # the same shape and order
    entry = api.get("/api/v1/changes?kind=model&action=model.version_updated").json()["results"][-1]
    assert entry["changes"] == {"eval_score": [0.8, 0.9], "cost_per_1k_tokens": [0.5, 0.25]}


def test_filters_use_the_patched_values(api, registered):
    api.patch(f"{URL}/{NAME}?version=1.0.0", {"eval_score": 0.95, "cost_per_1k_tokens": 2}, format="json")

    assert api.get("/api/v1/versions?min_eval_score=0.9").json()["count"] == 1
    assert api.get("/api/v1/versions?max_cost=1").json()["count"] == 0


def test_a_price_set_after_registration_and_cleared_with_null(api, model_doc):
    api.post(URL, model_doc(), format="json")

    set_ = api.patch(f"{URL}/{NAME}", {"cost_per_1k_tokens": 1.5}, format="json")
    cleared = api.patch(f"{URL}/{NAME}", {"cost_per_1k_tokens": None}, format="json")

    assert set_.status_code == 200 and set_.json()["cost_per_1k_tokens"] == 1.5
    assert cleared.status_code == 200 and "cost_per_1k_tokens" not in cleared.json()


def test_an_out_of_range_eval_score_is_a_400_at_its_path(api, registered):
    response = api.patch(f"{URL}/{NAME}", {"eval_score": 1.5}, format="json")

    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == ["/eval_score"]


def test_the_registered_spec_stays_immutable_beside_them(api, registered):
    response = api.patch(f"{URL}/{NAME}", {"eval_score": 0.9, "runtime": {"type": "tgi"}}, format="json")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "spec_immutable"
    assert api.get(f"{URL}/{NAME}").json()["eval_score"] == 0.8


def test_a_registration_retried_after_a_new_price_is_still_a_retry(api, model_doc, registered):
    api.patch(f"{URL}/{NAME}", {"cost_per_1k_tokens": 0.75}, format="json")

    retry = api.post(URL, model_doc(eval_score=0.8, cost_per_1k_tokens=0.5), format="json")

    assert retry.status_code == 200, retry.json()
    assert retry.json()["cost_per_1k_tokens"] == 0.75
