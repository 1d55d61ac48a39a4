from __future__ import annotations

import pytest

from models_app.models import ModelVersion

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"
NAME = "llama2-7b-chat"


@pytest.fixture
def three_versions(api, model_doc):
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        assert api.post(URL, model_doc(version=version), format="json").status_code == 201


def move(api, version: str, action: str):
    return api.post(f"{URL}/{NAME}/versions/{version}/{action}")


def test_activate_makes_one_current_version(api, three_versions):
    assert move(api, "1.0.0", "activate").json()["is_current"] is True
    assert move(api, "1.1.0", "activate").status_code == 200

    assert api.get(f"{URL}/{NAME}/versions/current").json()["version"] == "1.1.0"
    assert api.get(f"{URL}/{NAME}?version=current").json()["version"] == "1.1.0"
    assert list(ModelVersion.objects.filter(is_current=True).values_list("version", flat=True)) == ["1.1.0"]


def test_current_is_404_until_a_version_is_activated(api, three_versions):
    response = api.get(f"{URL}/{NAME}/versions/current")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "no_current"


def test_deprecating_or_archiving_the_current_version_clears_it(api, three_versions):
    move(api, "2.0.0", "activate")
    deprecated = move(api, "2.0.0", "deprecate").json()
    assert deprecated["status"] == "deprecated" and deprecated["is_current"] is False
    assert api.get(f"{URL}/{NAME}/versions/current").status_code == 404

    move(api, "1.1.0", "activate")
    archived = move(api, "1.1.0", "archive").json()
    assert archived["status"] == "archived" and archived["is_current"] is False
    assert api.get(f"{URL}/{NAME}/versions/current").status_code == 404


def test_a_deprecated_version_can_be_activated_again_but_an_archived_one_cannot(api, three_versions):
    move(api, "1.0.0", "deprecate")
    assert move(api, "1.0.0", "activate").json()["status"] == "active"

    move(api, "1.1.0", "archive")
    response = move(api, "1.1.0", "activate")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "archived"
    assert move(api, "1.1.0", "deprecate").status_code == 409


def test_lifecycle_moves_accept_latest(api, three_versions):
    assert move(api, "latest", "activate").json()["version"] == "2.0.0"


def test_patch_changes_mutable_fields_and_keeps_the_others(api, three_versions):
    response = api.patch(
        f"{URL}/{NAME}?version=1.0.0", {"description": "hotfix line", "tags": ["stable"]}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = api.get(f"{URL}/{NAME}?version=1.0.0").json()
    assert body["description"] == "hotfix line" and body["tags"] == ["stable"]
    assert body["metadata"] == {"license": "llama2-license"}


def test_put_changes_the_fields_it_carries_and_accepts_the_unchanged_spec(api, three_versions):
    document = api.get(f"{URL}/{NAME}").json()
    document["description"] = "replaced"
    document["tags"] = []

    response = api.put(f"{URL}/{NAME}", document, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["description"] == "replaced"
    assert response.json()["tags"] == []


def test_put_of_only_a_description_leaves_every_omitted_field_as_it_is(api, three_versions):
    set_up = api.patch(f"{URL}/{NAME}", {"retention_keep": 3, "definition": {"tags": ["team-a"]}}, format="json")
    assert set_up.status_code == 200
    before = api.get(f"{URL}/{NAME}").json()

    response = api.put(f"{URL}/{NAME}", {"description": "only this"}, format="json")

    assert response.status_code == 200, response.json()
    after = api.get(f"{URL}/{NAME}").json()
    assert after["description"] == "only this"
    unchanged = {k: v for k, v in before.items() if k not in ("description", "updated_at")}
    assert {k: after.get(k) for k in unchanged} == unchanged  # family, retention_keep, tags, metadata, definition
    assert [m["name"] for m in api.get(f"{URL}?family=llama").json()["results"]] == [NAME]


def test_an_update_logs_every_field_it_changes_with_both_values(api, three_versions):
    before = api.get(f"{URL}/{NAME}").json()
    changes = {
        "family": None,  # cleared
        "retention_keep": 2,
        "metric_directions": {"latency_ms": "lower"},
        "metadata": {"license": "apache-2.0"},
        "tags": ["stable"],
        "description": "new",
        "definition": {"description": "the model"},
    }

    assert api.patch(f"{URL}/{NAME}", changes, format="json").status_code == 200
    entry = api.get("/api/v1/changes?kind=model&action=model.version_updated").json()["results"][-1]
    after = api.get(f"{URL}/{NAME}").json()

    # Every field whose stored value moved is in the entry, with its value before and after, and nothing else.
    moved = {k for k in before.keys() | after.keys() if k != "updated_at" and before.get(k) != after.get(k)}
    assert set(entry["changes"]) == moved == {*changes}
    assert {k: entry["changes"][k] for k in moved} == {k: [before.get(k), after.get(k)] for k in moved}
    assert entry["changes"]["family"] == ["llama", None]


def test_changing_the_spec_is_a_409_asking_for_a_new_version(api, three_versions):
    document = api.get(f"{URL}/{NAME}").json()
    document["runtime"]["max_model_len"] = 8192

    response = api.put(f"{URL}/{NAME}", document, format="json")

    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error["code"] == "spec_immutable" and "new version" in error["message"]
    assert error["details"]["fields"] == ["/runtime/max_model_len"]
    assert api.get(f"{URL}/{NAME}").json()["runtime"]["max_model_len"] == 4096


def test_family_and_retention_are_model_wide(api, three_versions):
    response = api.patch(f"{URL}/{NAME}", {"family": "llama2", "retention_keep": 2}, format="json")
    assert response.status_code == 200, response.json()

    for version in ("1.0.0", "2.0.0"):
        body = api.get(f"{URL}/{NAME}?version={version}").json()
        assert body["family"] == "llama2" and body["retention_keep"] == 2


def test_invalid_mutable_values_are_a_400_with_paths_and_change_nothing(api, three_versions):
    response = api.patch(f"{URL}/{NAME}", {"tags": ["ok", "Not Ok"], "family": "", "metadata": []}, format="json")

    assert response.status_code == 400
    paths = {e["path"] for e in response.json()["errors"]}
    assert {"/tags/1", "/metadata"} <= paths
    assert api.get(f"{URL}/{NAME}").json()["tags"] == ["production", "english"]


def test_status_cannot_be_changed_by_put(api, three_versions):
    response = api.patch(f"{URL}/{NAME}", {"status": "archived"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/status"


def test_apply_retention_archives_old_releases_but_never_the_current_one(api, model_doc, three_versions):
    from models_app.models import Model

    for version in ("2.1.0", "3.0.0-rc.1"):
        api.post(URL, model_doc(version=version), format="json")
    move(api, "1.0.0", "activate")

    archived = Model.objects.get(name=NAME).apply_retention(keep=2)

    assert sorted(v.version for v in archived) == ["1.1.0"]
    statuses = {v.version: (v.status, v.is_current) for v in ModelVersion.objects.all()}
    assert statuses["1.0.0"] == ("active", True)
    assert statuses["2.0.0"][0] == statuses["2.1.0"][0] == statuses["3.0.0-rc.1"][0] == "active"


def test_the_document_shows_where_the_version_lives_and_takes_it_back_unchanged(api, three_versions):
    assert move(api, "1.0.0", "archive").status_code == 200
    archived = api.get(f"{URL}/{NAME}/versions/1.0.0").json()
    live = api.get(f"{URL}/{NAME}/versions/2.0.0").json()

    assert (archived["storage_tier"], live["storage_tier"]) == ("cold", "hot")
    assert archived["archived_at"] is not None and live["archived_at"] is None
    assert archived["purged_at"] is None
    listed = api.get("/api/v1/versions?status=archived").json()["results"]
    assert [(v["version"], v["storage_tier"]) for v in listed] == [("1.0.0", "cold")]

    # Sent back as GET returned them, the server-managed fields are accepted and ignored with a warning.
    live["description"] = "sent back"
    response = api.put(f"{URL}/{NAME}", live, format="json")  # 2.0.0 is the latest
    assert response.status_code == 200, response.json()
    warned = {w["path"] for w in response.json()["warnings"]}
    assert {"/storage_tier", "/archived_at", "/purged_at"} <= warned
    assert response.json()["storage_tier"] == "hot"


def test_a_registration_logs_the_definition_wide_fields_and_the_definition_block_it_changes(
    api, three_versions, model_doc
):
    document = model_doc(version="2.1.0", family="llama-next", definition={"tags": ["team-b"]})

    assert api.post(URL, document, format="json").status_code == 201
    entry = api.get("/api/v1/changes?kind=model&action=model.version_registered").json()["results"][-1]

    assert entry["version"] == "2.1.0"
    assert entry["changes"]["family"] == ["llama", "llama-next"]
    assert entry["changes"]["definition"] == [
        {"tags": [], "description": ""},
        {"tags": ["team-b"], "description": ""},
    ]
