"""Registering a version that exists, for every kind alike: the same spec is a retry (200, the stored version, a
warning, nothing written); another spec under the taken number is a 409 naming the JSON Pointer of every field
that differs, and stores nothing."""

from __future__ import annotations

import copy

import pytest

from kernel.models.changelog import ChangeLogEntry
from tests.conftest import example

pytestmark = pytest.mark.django_db

# kind's URL, its example, one change deep inside its spec (path, how to make it), one mutable field's change.
KINDS = {
    "models": (
        example("models_app", "llama2-7b-chat"),
        "/runtime/dtype",
        lambda doc: doc["runtime"].update(dtype="bfloat16"),
    ),
    "pipelines": (
        {
            "name": "p",
            "version": "1.0.0",
            "steps": [{"id": "a", "type": "validation", "config": {"max_length": 10}, "depends_on": []}],
        },
        "/steps/0/config/max_length",
        lambda doc: doc["steps"][0]["config"].update(max_length=20),
    ),
    "policies": (
        example("policies_app", "user-rate-limits"),
        "/rules/1/burst",
        lambda doc: doc["rules"][1].update(burst=70),
    ),
}


@pytest.mark.parametrize("kind", KINDS)
def test_registering_the_same_spec_again_is_a_retry_answered_with_the_stored_version(api, kind):
    document, _, _ = KINDS[kind]
    first = api.post(f"/api/v1/{kind}", document, format="json")
    assert first.status_code == 201, first.json()
    entries = ChangeLogEntry.objects.count()
    retry = copy.deepcopy(document)
    retry["description"] = "another description"  # mutable: not part of the spec, reported as not applied

    again = api.post(f"/api/v1/{kind}", retry, format="json")

    assert again.status_code == 200, again.json()
    assert again.json()["id"] == first.json()["id"]
    warning = again.json()["warnings"][0]
    assert (warning["code"], warning["path"]) == ("already_registered", "/version")
    assert "/description" in warning["message"]
    assert again.json()["description"] == first.json()["description"]
    assert ChangeLogEntry.objects.count() == entries


@pytest.mark.parametrize("kind", KINDS)
def test_another_spec_under_a_taken_version_is_a_409_naming_each_field_that_differs(api, kind):
    document, path, change = KINDS[kind]
    assert api.post(f"/api/v1/{kind}", document, format="json").status_code == 201
    entries = ChangeLogEntry.objects.count()
    other = copy.deepcopy(document)
    change(other)

    response = api.post(f"/api/v1/{kind}", other, format="json")

    assert response.status_code == 409, response.json()
    error = response.json()["errors"][0]
    assert (error["code"], error["path"]) == ("version_exists", "/version")
    assert error["details"]["fields"] == [path]
    assert path in error["message"]
    assert ChangeLogEntry.objects.count() == entries
    stored = api.get(f"/api/v1/{kind}/{document['name']}").json()
    assert {k: stored[k] for k in document if k not in ("description",)} == {
        k: v for k, v in document.items() if k != "description"
    }
