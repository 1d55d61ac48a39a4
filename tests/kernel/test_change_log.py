"""The change log: one entry per committed change, in the change's transaction, with who and what; never edited;
readable at /api/v1/changes and on each object's /history and admin page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from kernel.exceptions import Conflict
from kernel.models.changelog import ChangeLogEntry, acting_as, record, spec_checksum
from kernel.reads.lookups import lookup
from kernel.rules.validation import DocumentInvalid
from kernel.writes.delete import restore, soft_delete
from kernel.writes.lifecycle import activate, archive, deprecate
from kernel.writes.register import register, register_version
from kernel.writes.update import update_document
from models_app.models import Model

pytestmark = pytest.mark.django_db


def actions() -> list[str]:
    return list(ChangeLogEntry.objects.values_list("action", flat=True))


def test_each_model_method_appends_one_entry_with_what_changed(model_doc):
    registration = register(Model, model_doc(version="1.0.0"))
    model = registration.version.model
    register_version(model, model_doc(version="1.1.0"))
    activate(lookup(Model, model.name, "1.0.0"))
    activate(lookup(Model, model.name, "1.1.0"))
    update_document(lookup(Model, model.name, "1.0.0"), {"description": "old"})
    deprecate(lookup(Model, model.name, "1.1.0"))
    archive(lookup(Model, model.name, "1.0.0"))
    soft_delete(model)
    restore(model)

    assert actions() == [
        "model.version_registered",
        "model.version_registered",
        "model.version_activated",
        "model.version_activated",
        "model.version_updated",
        "model.version_deprecated",
        "model.version_archived",
        "model.deleted",
        "model.restored",
    ]
    entries = list(ChangeLogEntry.objects.all())
    first = entries[0]
    assert (first.kind, first.name, first.version, first.actor) == ("model", "llama2-7b-chat", "1.0.0", "system")
    assert first.object_id == str(registration.version.pk)
    # A registration names its spec by checksum, never a copy of it.
    assert first.changes == {
        "spec_sha256": spec_checksum(registration.version.spec),
        "created": True,
        "family": ["", "llama"],
    }
    assert entries[3].changes == {"current": ["1.0.0", "1.1.0"], "is_current": [False, True]}
    assert entries[4].changes == {"description": ["Llama 2 7B Chat model", "old"]}
    assert entries[5].changes == {
        "status": ["active", "deprecated"],
        "is_current": [True, False],
        "current": ["1.1.0", None],
    }
    assert entries[7].object_id == str(model.pk)


def test_a_rejected_write_leaves_no_entry(model_doc):
    register(Model, model_doc(version="1.0.0"))
    before = ChangeLogEntry.objects.count()

    again = model_doc(version="1.0.0")
    again["artifact"]["checksum"] = "sha256:" + "c" * 64  # the same digest would be a retry (200, no entry)
    with pytest.raises(Conflict):
        register(Model, again)
    with pytest.raises(DocumentInvalid):
        register(Model, model_doc(version="2.0.0", runtime={"type": "nope"}))
    with pytest.raises(Conflict):
        update_document(lookup(Model, "llama2-7b-chat", "1.0.0"), {"runtime": {"type": "tgi"}})

    assert ChangeLogEntry.objects.count() == before


def test_an_entry_is_rolled_back_with_its_change(model_doc):
    with pytest.raises(RuntimeError), transaction.atomic():
        register(Model, model_doc(version="1.0.0"))
        raise RuntimeError("the surrounding transaction fails after the write")

    assert not Model.objects.exists() and not ChangeLogEntry.objects.exists()


def test_the_actor_is_the_api_key_prefix_and_the_request_id_is_kept(api, model_doc):
    response = api.post("/api/v1/models", model_doc(), format="json")

    assert response.status_code == 201
    entry = ChangeLogEntry.objects.get()
    assert entry.actor == f"api-key:{api.api_key.split('.')[0]}"


def test_the_actor_of_an_admin_change_is_the_user(client, model_doc):
    register(Model, model_doc())
    version = lookup(Model, "llama2-7b-chat")
    client.force_login(get_user_model().objects.create_superuser("curator", password="curator-pass-1"))

    response = client.post(
        "/admin/models_app/modelversion/", {"action": "activate", "_selected_action": [str(version.pk)]}
    )

    assert response.status_code == 302
    assert ChangeLogEntry.objects.last().actor == "user:curator"
    assert ChangeLogEntry.objects.last().action == "model.version_activated"


def test_commands_and_jobs_name_themselves():
    call_command("load_examples", stdout=open("/dev/null", "w"))
    assert set(ChangeLogEntry.objects.values_list("actor", flat=True)) == {"command:load_examples"}

    with acting_as("job:retention"):
        record("retention.applied", kind="model", name="llama2-7b-chat", changes={"archived": 0})
    assert ChangeLogEntry.objects.last().actor == "job:retention"


@pytest.mark.postgres
def test_postgresql_refuses_to_update_or_delete_an_entry(model_doc):
    register(Model, model_doc())
    entry = ChangeLogEntry.objects.get()

    for statement in ("UPDATE registry_changelog SET actor = 'someone-else'", "DELETE FROM registry_changelog"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)

    assert ChangeLogEntry.objects.get().actor == entry.actor


@pytest.mark.postgres
def test_postgresql_refuses_to_truncate_the_change_log_as_the_application_runs(model_doc):
    register(Model, model_doc())

    with transaction.atomic(), connection.cursor() as cursor:
        # As the application's sessions run: without the allowance the test database sets for its own flushes.
        cursor.execute("SET LOCAL registry.changelog_truncate = ''")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE waits for no deferred foreign-key check
        with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"), transaction.atomic():
            cursor.execute("TRUNCATE registry_changelog CASCADE")
        # manage.py flush names every table in one TRUNCATE: refused as a whole, for the trigger's reason.
        with pytest.raises(CommandError, match="couldn't be flushed") as refused, transaction.atomic():
            call_command("flush", interactive=False, verbosity=0)
        assert "append-only: TRUNCATE refused" in str(refused.value.__cause__)

    assert ChangeLogEntry.objects.count() == 1 and Model.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_test_databases_own_flush_still_empties_the_change_log(model_doc):
    register(Model, model_doc())

    call_command("flush", interactive=False, verbosity=0)  # what TransactionTestCase runs after this test too

    assert not ChangeLogEntry.objects.exists()


def test_the_application_offers_no_edit_of_an_entry(client, model_doc):
    register(Model, model_doc())
    entry = ChangeLogEntry.objects.get()
    with pytest.raises(ValueError):
        entry.save()
    client.force_login(get_user_model().objects.create_superuser("curator", password="curator-pass-1"))

    page = client.get(f"/admin/registry_project/changelogentry/{entry.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(f"/admin/registry_project/changelogentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ChangeLogEntry.objects.filter(pk=entry.pk).exists()


# -- /api/v1/changes and /history ------------------------------------------------------------------------------


@pytest.fixture
def three_models(model_doc):
    for name in ("alpha", "beta", "gamma"):
        register(Model, model_doc(name=name))
    with acting_as("job:nightly"):
        activate(lookup(Model, "beta", "1.0.0"))


def test_changes_filter_by_kind_name_action_and_actor(api, three_models):
    def names(**params):
        response = api.get("/api/v1/changes", params)
        assert response.status_code == 200, response.json()
        return [(e["name"], e["action"]) for e in response.json()["results"]]

    assert names() == [
        ("alpha", "model.version_registered"),
        ("beta", "model.version_registered"),
        ("gamma", "model.version_registered"),
        ("beta", "model.version_activated"),
    ]
    assert names(name="beta") == [("beta", "model.version_registered"), ("beta", "model.version_activated")]
    assert names(action="model.version_activated") == [("beta", "model.version_activated")]
    assert names(action="model.*", actor="job:nightly") == [("beta", "model.version_activated")]
    assert names(kind="pipeline") == []


def test_changes_are_followed_with_the_after_id_cursor(api, three_models):
    first = api.get("/api/v1/changes", {"limit": 3}).json()
    assert len(first["results"]) == 3 and first["next"] is not None
    second = api.get(first["next"]).json()
    assert [e["action"] for e in second["results"]] == ["model.version_activated"]
    assert second["next"] is None
    # Polling from the last cursor answers nothing new until something happens.
    assert api.get("/api/v1/changes", {"after_id": second["next_after_id"]}).json()["results"] == []


def test_changes_filter_by_time(api, three_models):
    entries = list(ChangeLogEntry.objects.all())
    at = entries[-1].at

    since = api.get("/api/v1/changes", {"since": at.isoformat()}).json()["results"]
    until = api.get("/api/v1/changes", {"until": at.isoformat()}).json()["results"]

    assert [e["id"] for e in since] == [e.id for e in entries if e.at >= at]
    assert [e["id"] for e in until] == [e.id for e in entries if e.at < at]
    assert api.get("/api/v1/changes", {"since": (at + dt.timedelta(seconds=1)).isoformat()}).json()["results"] == []


@pytest.mark.parametrize(
    "params, parameter",
    [
        ({"colour": "red"}, "colour"),
        ({"since": "yesterday"}, "since"),
        ({"after_id": "-1"}, "after_id"),
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"name": "n" * 200}, "name"),
    ],
)
def test_bad_changes_parameters_are_a_400_naming_them(api, params, parameter):
    response = api.get("/api/v1/changes", params)

    assert response.status_code == 400
    assert [e["parameter"] for e in response.json()["errors"]] == [parameter]


def test_the_change_log_needs_credentials(anon):
    assert anon.get("/api/v1/changes").status_code == 401


def test_changes_page_is_read_in_a_bounded_number_of_queries(api, model_doc, django_assert_max_num_queries):
    for index in range(30):
        register(Model, model_doc(name=f"m{index}"))
    api.get("/api/v1/changes", {"limit": 1})  # the key's first use (lookup, last_used_at) is not the page's cost
    with django_assert_max_num_queries(2):  # the credential token (the verified-key cache), then the page
        response = api.get("/api/v1/changes", {"limit": 100})
    assert len(response.json()["results"]) == 30


def test_an_objects_history_lists_its_entries_and_survives_deletion(api, three_models):
    soft_delete(Model.objects.get(name="beta"))

    response = api.get("/api/v1/models/beta/history")

    assert response.status_code == 200
    assert [e["action"] for e in response.json()["results"]] == [
        "model.version_registered",
        "model.version_activated",
        "model.deleted",
    ]
    assert api.get("/api/v1/models/beta/history", {"action": "model.deleted"}).json()["results"][0]["name"] == "beta"
    assert api.get("/api/v1/models/nobody/history").status_code == 404
    assert api.get("/api/v1/models/beta/history", {"kind": "pipeline"}).status_code == 400


def test_the_admin_page_of_a_definition_and_of_a_version_shows_its_history(client, model_doc):
    register(Model, model_doc(version="1.0.0"))
    version = lookup(Model, "llama2-7b-chat", "1.0.0")
    with acting_as("job:nightly"):
        activate(version)
    client.force_login(get_user_model().objects.create_superuser("curator", password="curator-pass-1"))

    for url in (
        f"/admin/models_app/model/{version.model.pk}/change/",
        f"/admin/models_app/modelversion/{version.pk}/change/",
    ):
        page = client.get(url).content.decode()
        assert "Change history" in page
        assert "llama2-7b-chat 1.0.0: version activated" in page and "job:nightly" in page
