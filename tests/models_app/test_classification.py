"""The model registry's task, the earlier services' subject and category as labels, and their filters (issue #27)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"


@pytest.fixture
def classified(api, model_doc):
    for name, task, labels in [
        ("whisper", "automatic-speech-recognition", {"subject": "speech"}),
        ("tutor", "text-generation", {"subject": "math", "category": "education"}),
        ("traffic", "time-series-forecasting", {"category": "traffic-prediction"}),
        ("plain", None, None),
    ]:
        doc = model_doc(name=name)
        if task:
            doc.update(task=task, labels=labels)
        response = api.post(URL, doc, format="json")
        assert response.status_code == 201, response.json()


def names(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return sorted(d["name"] for d in response.json()["results"])


def test_task_and_labels_are_part_of_the_document(api, classified):
    document = api.get(f"{URL}/tutor").json()

    assert document["task"] == "text-generation"
    assert document["labels"] == {"subject": "math", "category": "education"}
    assert "task" not in api.get(f"{URL}/plain").json()


def test_lists_filter_by_task_and_by_every_label_given(api, classified):
    assert names(api.get(f"{URL}?task=text-generation")) == ["tutor"]
    assert names(api.get(f"{URL}?label=subject:math")) == ["tutor"]
    assert names(api.get(f"{URL}?label=category:education&label=subject:math")) == ["tutor"]
    assert names(api.get(f"{URL}?label=category:education&label=subject:speech")) == []
    assert names(api.get(f"{URL}?label=subject:math&label=subject:speech")) == []
    assert names(api.get("/api/v1/versions?label=category:traffic-prediction")) == ["traffic"]


def test_task_and_labels_are_model_wide_and_patchable(api, classified):
    response = api.patch(f"{URL}/plain", {"task": "text-classification", "labels": {"subject": "law"}}, format="json")

    assert response.status_code == 200, response.json()
    assert names(api.get(f"{URL}?label=subject:law&task=text-classification")) == ["plain"]
    cleared = api.patch(f"{URL}/plain", {"labels": None}, format="json").json()
    assert "labels" not in cleared and cleared["task"] == "text-classification"


@pytest.mark.parametrize(
    "fields, path",
    [
        ({"task": "mind-reading"}, "/task"),
        ({"labels": {"Subject": "math"}}, "/labels"),
        ({"labels": {"a__b": "math"}}, "/labels"),
        ({"labels": {"subject": "Math Olympiad"}}, "/labels/subject"),
        ({"labels": ["subject:math"]}, "/labels"),
        ({"labels": {f"k{i}": "v" for i in range(33)}}, "/labels"),
    ],
)
def test_a_task_outside_the_vocabulary_or_a_bad_label_is_a_400_at_its_path(api, model_doc, fields, path):
    response = api.post(URL, model_doc(**fields), format="json")

    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == [path]


@pytest.mark.parametrize(
    "query", ["label=subject", "label=a__b:c", "label=subject:Math", "label=:x", "task=" + "x" * 65]
)
def test_a_malformed_filter_is_a_400_naming_the_parameter(api, classified, query):
    response = api.get(f"{URL}?{query}")

    assert response.status_code == 400, response.json()
    assert response.json()["errors"][0]["parameter"] == query.split("=")[0]


@pytest.mark.parametrize(
    "kind, app, example_name",
    [("pipelines", "pipelines_app", "text-generation-pipeline"), ("policies", "policies_app", "user-rate-limits")],
)
def test_every_kind_of_definition_has_labels_and_their_filter(api, model_doc, kind, app, example_name):
    from tests.conftest import example

    api.post(URL, model_doc(), format="json")  # the pipeline runs it
    document = {**example(app, example_name), "labels": {"subject": "math", "category": "education"}}

    registered = api.post(f"/api/v1/{kind}", document, format="json")
    bad = api.post(f"/api/v1/{kind}", {**document, "version": "9.0.0", "labels": {"a__b": "x"}}, format="json")

    assert registered.status_code == 201, registered.json()
    assert registered.json()["labels"] == {"subject": "math", "category": "education"}
    assert names(api.get(f"/api/v1/{kind}?label=subject:math&label=category:education")) == [example_name]
    assert names(api.get(f"/api/v1/{kind}?label=subject:speech")) == []
    assert bad.status_code == 400 and [e["path"] for e in bad.json()["errors"]] == ["/labels"]
