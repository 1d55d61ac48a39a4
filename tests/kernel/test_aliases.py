"""Aliases with history: atomic, conditional moves; @alias wherever a version is named; what an alias (and
current) pointed at in the past, from the change log; rollback as a new move."""

from __future__ import annotations

import datetime as dt

import pytest

from kernel.models.changelog import ChangeLogEntry
from kernel.reads.lookups import lookup
from kernel.writes.register import register
from models_app.models import Model

pytestmark = pytest.mark.django_db
URL = "/api/v1/models/llama2-7b-chat"


@pytest.fixture
def three_versions(model_doc):
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        register(Model, model_doc(version=version))


def put(api, alias, version, **headers):
    return api.put(f"{URL}/aliases/{alias}", {"version": version}, format="json", **headers)


def test_an_alias_is_moved_read_and_named_wherever_a_version_is(api, three_versions):
    assert put(api, "champion", "1.1.0").status_code == 200

    assert api.get(f"{URL}/aliases/champion").json()["version"] == "1.1.0"
    assert api.get(f"{URL}/versions/@champion").json()["version"] == "1.1.0"
    assert api.get(URL, {"version": "@champion"}).json()["version"] == "1.1.0"
    assert api.get(f"{URL}/versions/1.1.0").json()["aliases"] == ["champion"]
    listed = api.get(f"{URL}/versions").json()["results"]
    assert {d["version"]: d["aliases"] for d in listed} == {"1.2.0": [], "1.1.0": ["champion"], "1.0.0": []}
    assert api.get(f"{URL}/versions/@nobody").json()["errors"][0]["code"] == "no_alias"
    assert api.get(f"{URL}/aliases/Bad Name").status_code == 404


def test_if_match_refuses_a_move_someone_else_made_first(api, three_versions):
    etag = put(api, "production", "1.0.0")["ETag"]
    assert put(api, "production", "1.1.0", HTTP_IF_MATCH=etag).status_code == 200  # deploy job A

    late = put(api, "production", "1.2.0", HTTP_IF_MATCH=etag)  # deploy job B, with A's stale view

    assert late.status_code == 412
    assert late.json()["errors"][0]["code"] == "precondition_failed"
    assert api.get(f"{URL}/aliases/production").json()["version"] == "1.1.0"
    assert ChangeLogEntry.objects.filter(action="alias.moved").count() == 2


def test_an_empty_if_match_is_a_400_naming_the_header_and_moves_nothing(api, three_versions):
    put(api, "production", "1.0.0")

    moved = put(api, "production", "1.2.0", HTTP_IF_MATCH="  ")
    removed = api.delete(f"{URL}/aliases/production", HTTP_IF_MATCH="")

    for response in (moved, removed):
        assert response.status_code == 400
        assert response.json()["errors"][0]["parameter"] == "If-Match"
    assert api.get(f"{URL}/aliases/production").json()["version"] == "1.0.0"


def test_an_alias_sent_back_as_read_moves_it_and_any_other_field_is_a_400(api, three_versions):
    document = put(api, "production", "1.0.0").json()

    moved = api.put(f"{URL}/aliases/production", {**document, "version": "1.1.0"}, format="json")
    refused = api.put(f"{URL}/aliases/production", {"version": "1.2.0", "colour": "red"}, format="json")

    assert moved.status_code == 200 and moved.json()["version"] == "1.1.0"
    assert refused.status_code == 400 and refused.json()["errors"][0]["path"] == "/colour"
    assert api.get(f"{URL}/aliases/production").json()["version"] == "1.1.0"


def test_archiving_an_aliased_version_is_a_409_naming_the_alias(api, three_versions):
    put(api, "production", "1.0.0")

    response = api.post(f"{URL}/versions/1.0.0/archive")

    assert response.status_code == 409
    assert "@production" in response.json()["errors"][0]["message"]
    assert lookup(Model, "llama2-7b-chat", "1.0.0").status == "active"


def test_an_alias_never_moves_to_a_deleted_or_archived_version_nor_is_its_target_deleted(api, three_versions):
    assert api.delete(f"{URL}/versions/1.2.0").status_code == 204
    assert api.post(f"{URL}/versions/1.1.0/archive").status_code == 200
    put(api, "production", "1.0.0")

    assert put(api, "production", "1.2.0").status_code == 404
    archived = put(api, "production", "1.1.0")
    assert (archived.status_code, archived.json()["errors"][0]["code"]) == (409, "archived")
    deleting_target = api.delete(f"{URL}/versions/1.0.0")
    assert deleting_target.status_code == 409
    assert "alias @production" in deleting_target.json()["errors"][0]["message"]
    assert api.get(f"{URL}/aliases/production").json()["version"] == "1.0.0"


def test_point_in_time_answers_follow_several_moves(api, three_versions):
    moves = []
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        put(api, "production", version)
        api.post(f"{URL}/versions/{version}/activate")
        moves.append(ChangeLogEntry.objects.order_by("-id").first().at)
    api.delete(f"{URL}/aliases/production")
    api.post(f"{URL}/versions/1.2.0/deprecate")

    def alias_at(moment):
        response = api.get(f"{URL}/aliases/production", {"at": moment.isoformat()})
        return response.json()["version"] if response.status_code == 200 else response.status_code

    def current_at(moment):
        response = api.get(f"{URL}/versions/current", {"at": moment.isoformat()})
        return response.json()["version"] if response.status_code == 200 else response.status_code

    before = moves[0] - dt.timedelta(seconds=1)
    assert [alias_at(m) for m in (before, *moves)] == [404, "1.0.0", "1.1.0", "1.2.0"]
    assert [current_at(m) for m in (before, *moves)] == [404, "1.0.0", "1.1.0", "1.2.0"]
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert alias_at(now) == 404 and current_at(now) == 404  # deleted, deprecated
    assert api.get(f"{URL}/aliases/production", {"at": "tuesday"}).json()["errors"][0]["parameter"] == "at"


def test_history_lists_every_move_and_rollback_moves_back(api, three_versions):
    put(api, "production", "1.0.0")
    put(api, "production", "1.2.0")

    rolled = api.post(f"{URL}/aliases/production/rollback")

    assert rolled.status_code == 200 and rolled.json()["version"] == "1.0.0"
    history = api.get(f"{URL}/aliases/production/history").json()["results"]
    assert [e["changes"]["version"] for e in history] == [[None, "1.0.0"], ["1.0.0", "1.2.0"], ["1.2.0", "1.0.0"]]
    assert all(e["actor"].startswith("api-key:") for e in history)
    assert api.post(f"{URL}/aliases/staging/rollback").status_code == 409


def test_a_pipeline_step_may_name_a_model_alias(api, three_versions, pipeline_doc):
    put(api, "champion", "1.1.0")
    pipeline_doc["steps"][2]["model"] = "llama2-7b-chat@champion"
    assert api.post("/api/v1/pipelines", pipeline_doc, format="json").status_code == 201

    pipeline_doc.update(version="2.0.0")
    pipeline_doc["steps"][2]["model"] = "llama2-7b-chat@nobody"
    response = api.post("/api/v1/pipelines", pipeline_doc, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "path": "/steps/2/model",
        "code": "model_alias_not_found",
        "message": "Model 'llama2-7b-chat' has no alias 'nobody'.",
    }


@pytest.fixture
def pipeline_doc():
    from tests.conftest import example

    return example("pipelines_app", "text-generation-pipeline")


@pytest.mark.parametrize("weak", ['W/"1.0.0"', 'W/"1.0.0", W/"1.1.0"', "W/1.0.0"])
def test_a_weak_if_match_never_matches_and_moves_or_removes_nothing(api, three_versions, weak):
    """RFC 9110 13.1.1: If-Match uses the strong comparison, so a weak tag never matches, even one naming the
    version the alias points at: 412 in the error shape, naming the header, and nothing moves."""
    put(api, "production", "1.0.0")
    moves = ChangeLogEntry.objects.count()

    moved = put(api, "production", "1.2.0", HTTP_IF_MATCH=weak)
    removed = api.delete(f"{URL}/aliases/production", HTTP_IF_MATCH=weak)

    for response in (moved, removed):
        assert response.status_code == 412
        error = response.json()["errors"][0]
        assert error["code"] == "precondition_failed" and error["parameter"] == "If-Match"
        assert "weak" in error["message"]
    assert api.get(f"{URL}/aliases/production").json()["version"] == "1.0.0"
    assert ChangeLogEntry.objects.count() == moves
    assert put(api, "production", "1.2.0", HTTP_IF_MATCH='"1.0.0"').status_code == 200  # the strong tag matches


def test_fields_echoed_from_get_must_be_text_as_get_returned_them(api, three_versions):
    echoed = put(api, "production", "1.0.0").json()

    moved = api.put(f"{URL}/aliases/production", {**echoed, "version": "1.1.0"}, format="json")
    refused = api.put(
        f"{URL}/aliases/production", {"version": "1.2.0", "version_id": 2.2e-311, "name": 1e162}, format="json"
    )

    assert moved.status_code == 200
    assert refused.status_code == 400
    assert {e["path"] for e in refused.json()["errors"]} == {"/version_id", "/name"}
    assert api.get(f"{URL}/aliases/production").json()["version"] == "1.1.0"
