"""Renaming a definition (``POST /api/v1/{kind}/{name}/rename``; MLflow's rename uses the same verb): versions,
aliases, bindings, lineage and search follow the new name; the history reads across both names and stays apart
from a later definition that takes the old name; a pipeline naming the model refuses it; a refusal changes
nothing. Runs on SQLite too (the history's JSON lookups)."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from kernel.models.changelog import ChangeLogEntry
from kernel.models.webhooks import OutboxItem, WebhookSubscription
from kernel.writes.register import register
from models_app.models import Model
from pipelines_app.models import Pipeline
from tests.conftest import example

pytestmark = pytest.mark.django_db


@pytest.fixture
def llama(api, model_doc):
    """llama2-7b-chat 1.0.0 (current, alias champion) and 1.1.0 (alias champion moved there)."""
    assert api.post("/api/v1/models", model_doc(), format="json").status_code == 201
    assert api.post("/api/v1/models", model_doc(version="1.1.0"), format="json").status_code == 201
    assert api.post("/api/v1/models/llama2-7b-chat/versions/1.0.0/activate").status_code == 200
    for version in ("1.0.0", "1.1.0"):
        assert (
            api.put("/api/v1/models/llama2-7b-chat/aliases/champion", {"version": version}, format="json").status_code
            == 200
        )
    return "llama2-7b-chat"


def rename(api, name: str, new_name, kind: str = "models"):
    return api.post(f"/api/v1/{kind}/{name}/rename", {"name": new_name}, format="json")


def test_a_renamed_model_keeps_its_versions_aliases_and_history(api, llama):
    moved_at = timezone.now()
    time.sleep(0.01)
    WebhookSubscription.objects.create(url="http://127.0.0.1:9/hook", events=["model.*"])  # loopback, never sent

    answer = rename(api, llama, "llama2-chat")

    assert answer.status_code == 200, answer.json()
    assert answer.json() == {"kind": "model", "name": "llama2-chat", "previous_name": llama}
    assert answer["Location"].endswith("/api/v1/models/llama2-chat")
    assert api.get(f"/api/v1/models/{llama}").status_code == 404
    document = api.get("/api/v1/models/llama2-chat/versions/current").json()
    assert (document["name"], document["version"]) == ("llama2-chat", "1.0.0")
    assert api.get("/api/v1/models/llama2-chat/versions/@champion").json()["version"] == "1.1.0"
    aliases = api.get("/api/v1/models/llama2-chat/aliases").json()["results"]
    assert [(a["alias"], a["name"], a["version"]) for a in aliases] == [("champion", "llama2-chat", "1.1.0")]
    # Point-in-time answers and the alias's history read the entries written under the old name.
    then = api.get("/api/v1/models/llama2-chat/aliases/champion", {"at": moved_at.isoformat()}).json()
    assert then["version"] == "1.1.0"
    moves = api.get("/api/v1/models/llama2-chat/aliases/champion/history").json()["results"]
    assert [m["changes"]["version"] for m in moves] == [[None, "1.0.0"], ["1.0.0", "1.1.0"]]
    history = api.get("/api/v1/models/llama2-chat/history").json()["results"]
    assert [e["action"] for e in history][-1] == "model.renamed"
    assert history[-1]["changes"] == {"name": [llama, "llama2-chat"]}
    assert {e["name"] for e in history} == {llama, "llama2-chat"}
    assert len(history) == 6  # two registrations, an activation, two moves, the rename
    # The rename is a webhook event, and search finds the model by its new name only.
    assert OutboxItem.objects.filter(entry__action="model.renamed").count() == 1
    assert [d["name"] for d in api.get("/api/v1/models", {"search": "llama2-chat"}).json()["results"]] == [
        "llama2-chat"
    ]


def test_the_old_name_is_free_and_a_new_owner_starts_its_own_history(api, llama, model_doc):
    assert rename(api, llama, "llama2-chat").status_code == 200
    assert api.post("/api/v1/models", model_doc(version="3.0.0"), format="json").status_code == 201

    fresh = api.get(f"/api/v1/models/{llama}/history").json()["results"]
    assert [e["action"] for e in fresh] == ["model.version_registered"]
    assert api.get(f"/api/v1/models/{llama}/aliases/champion").status_code == 404
    renamed = api.get("/api/v1/models/llama2-chat/history").json()["results"]
    assert len(renamed) == 6 and all(e["version"] != "3.0.0" for e in renamed)

    # Renamed back and forth: each name's periods are read, the other model's entries never.
    assert rename(api, "llama2-chat", "llama-old").status_code == 200
    assert len(api.get("/api/v1/models/llama-old/history").json()["results"]) == 7
    assert len(api.get(f"/api/v1/models/{llama}/history").json()["results"]) == 1


def test_a_rename_is_refused_while_a_pipeline_names_the_model_and_changes_nothing(api, llama):
    register(Pipeline, example("pipelines_app", "text-generation-pipeline"))
    entries = ChangeLogEntry.objects.count()

    refused = rename(api, llama, "llama2-chat")

    assert refused.status_code == 409, refused.json()
    error = refused.json()["errors"][0]
    assert error["code"] == "in_use"
    assert "pipeline text-generation-pipeline@1.0.0 at /steps/2/model" in error["message"]
    assert Model.objects.filter(name=llama).exists() and ChangeLogEntry.objects.count() == entries


@pytest.mark.parametrize(
    ("new_name", "status", "code", "path"),
    [
        ("Not A Slug", 400, "invalid_name", "/name"),
        ("", 400, "required", "/name"),
        ("taken", 409, "definition_exists", "/name"),
        ("deleted-one", 409, "definition_exists", "/name"),
    ],
)
def test_a_bad_or_taken_name_is_refused_where_it_was_sent(api, llama, model_doc, new_name, status, code, path):
    assert api.post("/api/v1/models", model_doc(name="taken"), format="json").status_code == 201
    assert api.post("/api/v1/models", model_doc(name="deleted-one"), format="json").status_code == 201
    assert api.delete("/api/v1/models/deleted-one").status_code == 204
    entries = ChangeLogEntry.objects.count()

    refused = rename(api, llama, new_name)

    assert refused.status_code == status, refused.json()
    assert (refused.json()["errors"][0]["code"], refused.json()["errors"][0]["path"]) == (code, path)
    assert Model.objects.filter(name=llama).exists() and ChangeLogEntry.objects.count() == entries


def test_an_unknown_field_is_refused(api, llama):
    refused = api.post(f"/api/v1/models/{llama}/rename", {"name": "x", "new_name": "y"}, format="json")

    assert refused.status_code == 400
    assert [e["path"] for e in refused.json()["errors"]] == ["/new_name"]


def test_every_kind_can_be_renamed(api, llama):
    register(Pipeline, example("pipelines_app", "text-generation-pipeline"))
    assert rename(api, "text-generation-pipeline", "textgen", kind="pipelines").status_code == 200
    assert api.get("/api/v1/pipelines/textgen").json()["name"] == "textgen"


def test_a_rename_is_refused_while_the_model_stores_files_under_its_name(api, llama, settings, tmp_path):
    settings.ARTIFACT_STORAGE, settings.ARTIFACT_ROOT = "filesystem", str(tmp_path)
    stored = api.put(
        f"/api/v1/models/{llama}/versions/1.1.0/artifacts/w.bin",
        data=b"weights",
        content_type="application/octet-stream",
    )
    assert stored.status_code == 201, stored.json()

    refused = rename(api, llama, "llama2-chat")

    assert refused.status_code == 409, refused.json()
    assert "the stored files (their storage keys" in refused.json()["errors"][0]["message"]
    assert "version 1.1.0" in refused.json()["errors"][0]["message"]
