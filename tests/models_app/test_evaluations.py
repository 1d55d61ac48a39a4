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


def evaluations_url(version: str = "1.0.0") -> str:
    return f"{URL}/{NAME}/versions/{version}/evaluations"


def test_an_evaluation_record_shows_its_metrics_in_the_document_and_lists_newest_first(api, model_doc):
    api.post(URL, model_doc(metrics={"accuracy": 0.8, "latency_ms": 120}, eval_score=0.7), format="json")

    first = api.post(evaluations_url(), {"metrics": {"accuracy": 0.85}, "dataset": "mmlu"}, format="json")
    second = api.post(
        evaluations_url(), {"metrics": {"accuracy": 0.91, "eval_score": 0.88}, "notes": "rerun"}, format="json"
    )

    assert first.status_code == second.status_code == 201, second.json()
    assert second.json()["metrics"] == {"accuracy": 0.91, "eval_score": 0.88}
    document = api.get(f"{URL}/{NAME}").json()
    # The latest value of each metric; one no record named keeps the registration's.
    assert document["metrics"] == {"accuracy": 0.91, "latency_ms": 120, "eval_score": 0.88}
    assert document["eval_score"] == 0.88
    listed = api.get(evaluations_url()).json()
    assert [(r["metrics"], r.get("dataset"), r.get("notes")) for r in listed["results"]] == [
        ({"accuracy": 0.91, "eval_score": 0.88}, None, "rerun"),
        ({"accuracy": 0.85}, "mmlu", None),
    ]
    assert listed["count"] == 2


def test_an_evaluation_is_in_the_change_log_with_what_it_moved_and_feeds_the_filters(api, model_doc):
    api.post(URL, model_doc(eval_score=0.5), format="json")
    assert api.get("/api/v1/versions?min_eval_score=0.8").json()["count"] == 0

    api.post(evaluations_url("latest"), {"metrics": {"eval_score": 0.9}, "dataset": "helm"}, format="json")

    assert api.get("/api/v1/versions?min_eval_score=0.8").json()["count"] == 1
    entry = api.get("/api/v1/changes?action=model.evaluated").json()["results"][-1]
    assert (entry["name"], entry["version"]) == (NAME, "1.0.0")
    assert entry["changes"]["eval_score"] == [0.5, 0.9]
    assert entry["changes"]["evaluation"] == {"metrics": {"eval_score": 0.9}, "dataset": "helm"}


def test_an_evaluation_is_a_webhook_event(api, model_doc):
    from kernel.models.webhooks import OutboxItem, WebhookSubscription

    api.post(URL, model_doc(), format="json")
    WebhookSubscription.objects.create(url="https://hooks.example.com/e", events=["model.evaluated"])

    api.post(evaluations_url(), {"metrics": {"accuracy": 0.9}}, format="json")

    assert list(OutboxItem.objects.values_list("entry__action", flat=True)) == ["model.evaluated"]


@pytest.mark.parametrize(
    "body, paths",
    [
        ({}, ["/metrics"]),
        ({"metrics": {}}, ["/metrics"]),
        ({"metrics": {"eval_score": 1.5}}, ["/metrics/eval_score"]),
        ({"metrics": {"Bad Name": 1}}, ["/metrics"]),
        ({"metrics": {"accuracy": "high"}, "dataset": 3}, ["/dataset", "/metrics/accuracy"]),
        ({"metrics": {"accuracy": 1}, "runtime": {"type": "tgi"}}, ["/runtime"]),
        ([1, 2], [""]),
    ],
)
def test_a_bad_evaluation_is_a_400_naming_every_path_and_changes_nothing(api, model_doc, body, paths):
    api.post(URL, model_doc(), format="json")

    response = api.post(evaluations_url(), body, format="json")

    assert response.status_code == 400, response.json()
    assert sorted(e["path"] for e in response.json()["errors"]) == sorted(paths)
    assert api.get(evaluations_url()).json()["count"] == 0


def test_more_metrics_than_a_version_holds_is_a_400(api, model_doc):
    api.post(URL, model_doc(metrics={f"m{i}": i for i in range(60)}), format="json")

    response = api.post(evaluations_url(), {"metrics": {f"n{i}": i for i in range(5)}}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/metrics"


def test_evaluations_of_a_missing_version_are_a_404(api, model_doc):
    api.post(URL, model_doc(), format="json")

    assert api.get(evaluations_url("9.9.9")).status_code == 404
    assert api.post(evaluations_url("9.9.9"), {"metrics": {"a": 1}}, format="json").status_code == 404


def test_a_read_only_key_cannot_record_an_evaluation(api, readonly_api, model_doc):
    api.post(URL, model_doc(), format="json")

    assert readonly_api.post(evaluations_url(), {"metrics": {"a": 1}}, format="json").status_code == 403
    assert readonly_api.get(evaluations_url()).status_code == 200


def test_lineage_deltas_follow_the_latest_metrics_both_ways(api, register):
    register("chat", "1.0.0", metrics={"accuracy": 0.85})
    register("chat", "1.1.0", metrics={"accuracy": 0.874}, derived_from=("chat", "1.0.0", "retrain"))
    register("chat", "1.2.0", metrics={"accuracy": 0.9}, derived_from=("chat", "1.1.0", "finetune"))

    # 1.1.0 re-evaluated lower: worse than its parent, and 1.2.0 now improves more on it.
    api.post("/api/v1/models/chat/versions/1.1.0/evaluations", {"metrics": {"accuracy": 0.8}}, format="json")

    steps = api.get("/api/v1/models/chat/versions/1.2.0/lineage").json()["steps"]
    assert steps[1]["deltas"]["accuracy"]["value"] == 0.8 and steps[1]["deltas"]["accuracy"]["improved"] is False
    assert steps[2]["deltas"]["accuracy"]["parent"] == 0.8 and steps[2]["improved"] == ["accuracy"]


def test_a_version_that_now_improves_on_its_parent_is_attested_and_an_attestation_stays_as_issued(
    api, register, signing_key
):
    register("chat", "1.0.0", metrics={"accuracy": 0.85})
    register("chat", "1.1.0", metrics={"accuracy": 0.8}, derived_from=("chat", "1.0.0", "retrain"))
    register("chat", "1.2.0", metrics={"accuracy": 0.9}, derived_from=("chat", "1.0.0", "finetune"))
    attestation = "/api/v1/models/chat/versions/{}/attestation"
    assert api.get(attestation.format("1.1.0")).status_code == 404
    issued = api.get(attestation.format("1.2.0")).json()

    # 1.1.0 re-evaluated above its parent: attested now.
    api.post("/api/v1/models/chat/versions/1.1.0/evaluations", {"metrics": {"accuracy": 0.88}}, format="json")
    assert api.get(attestation.format("1.1.0")).status_code == 200
    # 1.0.0 re-evaluated above both: they no longer improve on it, and their attestations stay as issued.
    api.post("/api/v1/models/chat/versions/1.0.0/evaluations", {"metrics": {"accuracy": 0.95}}, format="json")

    assert api.get("/api/v1/models/chat/versions/1.2.0/lineage").json()["steps"][1]["improved"] == []
    assert api.get(attestation.format("1.2.0")).json() == issued
    assert api.get(attestation.format("1.1.0")).status_code == 200
