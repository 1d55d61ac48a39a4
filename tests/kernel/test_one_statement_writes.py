"""Registration and activation in one statement (``kernel.fastpaths.one_statement``, PostgreSQL) write what the
ORM path writes.

Each scenario runs twice on the same names, inside a savepoint that is rolled back after its rows are read: once as
it runs in production (the PL/pgSQL function), once with the kind's function switched off (the ORM path). The
answers, every column of the version and definition rows, the change-log entries and the webhook outbox must be
the same, apart from ids and clock readings.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from kernel.models.changelog import ChangeLogEntry
from kernel.models.webhooks import OutboxItem, WebhookSubscription
from kernel.rules.check import check_document
from kernel.writes.register import register
from models_app.models import Model, ModelVersion
from pipelines_app.models import Pipeline, PipelineVersion
from tests.conftest import example

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

CLOCK = {"id", "version_id", "created_at", "updated_at", "deleted_at", "archived_at", "at", "request_id"}


class Rollback(Exception):
    pass


def rows(model, *, exclude=()) -> list[dict]:
    """Every row of ``model``'s table, as the database holds it (the search vector as text), without ids and
    clock readings, in a stable order."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT to_jsonb(t) FROM {table} t")
        found = [row[0] if isinstance(row[0], dict) else __import__("json").loads(row[0]) for row in cursor.fetchall()]
    for row in found:
        for key in CLOCK | set(exclude):
            row.pop(key, None)
    return sorted(found, key=repr)


def outcome(api, steps) -> dict:
    """Run ``steps`` (method, path, body) in a savepoint, read everything they wrote, roll it back."""
    answers = []
    try:
        with transaction.atomic():
            for method, path, body in steps:
                response = getattr(api, method)(path, body, format="json")
                answer = response.json() if response.content else {}
                for key in CLOCK:
                    answer.pop(key, None)
                answers.append((response.status_code, answer))
            written = {
                "answers": answers,
                # ids, pointers and parent links differ between the runs; what they point at is compared below
                "models": rows(Model, exclude={"latest_version_id", "current_version_id"}),
                "model_versions": rows(ModelVersion, exclude={"model_id", "derived_from_id"}),
                "latest": sorted(Model.objects.values_list("name", "latest_version__version")),
                "pipelines": rows(Pipeline, exclude={"latest_version_id", "current_version_id"}),
                "pipeline_versions": rows(PipelineVersion, exclude={"pipeline_id"}),
                "changes": rows(ChangeLogEntry, exclude={"object_id"}),
                "outbox": OutboxItem.objects.count(),
            }
            raise Rollback
    except Rollback:
        pass
    return written


def both_ways(api, steps, monkeypatch) -> tuple[dict, dict]:
    in_one_statement = outcome(api, steps)
    with monkeypatch.context() as patch:
        patch.setattr(Model, "write_functions", None)
        patch.setattr(Pipeline, "write_functions", None)
        by_the_orm = outcome(api, steps)
    return in_one_statement, by_the_orm


def test_registrations_write_what_the_orm_path_writes(api, model_doc, monkeypatch):
    WebhookSubscription.objects.create(url="https://hooks.example.com/r", events=["model.*"], active=True)
    pipeline = example("pipelines_app", "text-generation-pipeline")
    steps = [
        ("post", "/api/v1/models", model_doc(version="1.0.0", tags=["b", "a"], description="Ünïcode Description")),
        # the definition's own tags: a version registered after them carries them in effective_tags
        ("patch", "/api/v1/models/llama2-7b-chat", {"definition": {"tags": ["a", "team-x"]}}),
        ("post", "/api/v1/models/llama2-7b-chat/versions", model_doc(version="1.2.0", tags=["a"])),
        ("post", "/api/v1/models", model_doc(version="1.1.5")),  # lower than the latest: a hotfix, with a warning
        ("post", "/api/v1/models", model_doc(version="2.0.0-rc.1")),  # a prerelease never takes "latest" from a release
        ("post", "/api/v1/models", model_doc(name="other", version="0.1.0", metadata={"k": [1, 2.5, None]})),
        ("post", "/api/v1/models/other/versions", model_doc(name="other", version="0.1.0-alpha.1")),
        # without the family: the search text takes the stored one (upper case from the admin: lowercased)
        ("post", "/api/v1/models", without_family(model_doc(version="1.3.0", description="No Family Given"))),
        ("post", "/api/v1/models", without_family(model_doc(name="fresh", version="1.0.0"))),
        ("post", "/api/v1/pipelines", pipeline),
    ]
    fast, orm = both_ways(api, steps, monkeypatch)

    assert [status for status, _ in fast["answers"]] == [201, 200, 201, 201, 201, 201, 201, 201, 201, 201]
    assert fast["answers"][3][1]["warnings"][0]["code"] == "lower_than_latest"
    assert fast == orm
    # what the comparison covers is really there
    assert fast["latest"] == [("fresh", "1.0.0"), ("llama2-7b-chat", "1.3.0"), ("other", "0.1.0")]
    versions = {row["version"]: row for row in fast["model_versions"]}
    assert versions["1.2.0"]["effective_tags"] == ["a", "team-x"] and versions["1.0.0"]["search_vector"]
    assert fast["pipeline_versions"][0]["model_names"]
    assert versions["1.3.0"]["search_text"] == "llama2-7b-chat\nllama\nno family given"
    assert fast["outbox"] == 9 and len(fast["changes"]) == 10  # the subscription is to model events


def without_family(document: dict) -> dict:
    return {k: v for k, v in document.items() if k != "family"}


def test_a_stored_family_that_is_not_ascii_is_handed_back(api, model_doc, monkeypatch):
    """PostgreSQL's lower() and Python's agree on ASCII only: a family set outside the API (the admin does not
    hold it to the slug pattern) is lowercased by the ORM path."""
    assert api.post("/api/v1/models", model_doc(version="1.0.0"), format="json").status_code == 201
    Model.objects.update(family="Ünï-Family")
    from kernel.fastpaths import one_statement

    document, _ = check_document(Model, without_family(model_doc(version="1.1.0")))
    assert one_statement.register(Model, document, [], None, create=True) is None  # handed back, nothing written
    assert not ModelVersion.objects.filter(version="1.1.0").exists()
    steps = [("post", "/api/v1/models", without_family(model_doc(version="1.1.0")))]
    fast, orm = both_ways(api, steps, monkeypatch)
    assert fast == orm
    assert [row["search_text"] for row in fast["model_versions"] if row["version"] == "1.1.0"] == [
        "llama2-7b-chat\nünï-family\n" + model_doc()["description"].lower()
    ]


def test_the_cases_it_hands_back_are_answered_by_the_orm_path(api, model_doc, monkeypatch):
    steps = [
        ("post", "/api/v1/models", model_doc(version="1.0.0")),
        ("post", "/api/v1/models", model_doc(version="1.0.0")),  # a retry: 200 with already_registered
        ("post", "/api/v1/models", model_doc(version="1.0.0", description="changed")),  # still the same digest
        (
            "post",
            "/api/v1/models",
            {**model_doc(version="1.0.0"), "artifact": {**model_doc()["artifact"], "checksum": "sha256:" + "1" * 64}},
        ),
        ("post", "/api/v1/models", model_doc(version="1.1.0", family="mistral")),  # a definition-wide field changes
        ("post", "/api/v1/models/nothing-here/versions", model_doc(name="nothing-here", version="1.0.0")),
        ("delete", "/api/v1/models/llama2-7b-chat", None),
        ("post", "/api/v1/models", model_doc(version="2.0.0")),  # a deleted definition's name
    ]
    fast, orm = both_ways(api, steps, monkeypatch)

    assert [status for status, _ in fast["answers"][:6]] == [201, 200, 200, 409, 201, 404]
    assert fast["answers"][4][1]["warnings"][0]["code"] == "definition_field_changed"
    assert fast["answers"][7][0] == 409
    assert fast == orm


def test_activations_write_what_the_orm_path_writes(api, model_doc, monkeypatch):
    WebhookSubscription.objects.create(url="https://hooks.example.com/a", events=["*"], active=True)
    models = "/api/v1/models/llama2-7b-chat"
    pipelines = "/api/v1/pipelines/text-generation-pipeline"
    steps = [
        ("post", "/api/v1/models", model_doc(version="1.0.0")),
        ("post", "/api/v1/models", model_doc(version="1.1.0")),
        ("put", f"{models}/aliases/champion", {"version": "1.1.0"}),
        ("post", f"{models}/versions/1.0.0/activate", None),  # nothing was current
        ("post", f"{models}/versions/1.1.0/activate", None),  # clears 1.0.0, answers with its alias
        ("post", f"{models}/versions/1.1.0/activate", None),  # already current: an entry with no changes
        ("post", f"{models}/versions/1.1.0/deprecate", None),
        ("post", f"{models}/versions/1.1.0/activate", None),  # deprecated -> active
        ("post", f"{models}/versions/1.0.0/archive", None),
        ("post", f"{models}/versions/1.0.0/activate", None),  # archived: handed back, refused by the ORM path
        ("post", "/api/v1/pipelines", example("pipelines_app", "text-generation-pipeline")),
        ("post", f"{pipelines}/versions/latest/activate", None),
    ]
    fast, orm = both_ways(api, steps, monkeypatch)

    statuses = [status for status, _ in fast["answers"]]
    assert statuses == [201, 201, 200, 200, 200, 200, 200, 200, 200, 409, 201, 200], fast["answers"]
    assert fast["answers"][4][1]["aliases"] == ["champion"] and fast["answers"][4][1]["is_current"] is True
    assert fast == orm
    activated = [row["changes"] for row in fast["changes"] if row["action"] == "model.version_activated"]
    assert {"current": [None, "1.0.0"], "is_current": [False, True]} in activated and {} in activated
    assert fast["outbox"] == len(fast["changes"])


def test_a_registration_in_a_callers_transaction_rolls_back_with_it(api, model_doc):
    """Outside a request (the admin, a job) the statement joins the caller's transaction."""
    with pytest.raises(Rollback):
        with transaction.atomic():
            register(Model, model_doc(version="1.0.0"))
            assert ModelVersion.objects.filter(is_latest=True).count() == 1
            raise Rollback
    assert not Model.objects.exists() and not ChangeLogEntry.objects.exists()


def test_a_kind_that_overrides_what_a_function_stands_in_for_keeps_the_orm_path(model_doc, monkeypatch):
    from kernel.fastpaths.one_statement import in_one_statement

    assert in_one_statement(Model, model_doc())
    monkeypatch.setattr(Model, "record", lambda self, action, changes: None)  # a kind recording more, say
    assert not in_one_statement(Model, model_doc())


@pytest.mark.parametrize("kind", [Model, Pipeline], ids=lambda kind: kind.kind)
@pytest.mark.parametrize("write", ["register", "activate"])
def test_every_kind_with_a_function_writes_through_it(kind, write):
    """A kind's own hooks (a pipeline's save, which derives its model references) do not send its writes back to
    the ORM path: each kind with a function for a write takes it."""
    from kernel.fastpaths.one_statement import _has_function

    assert _has_function(kind, write)


def test_documents_it_never_sees(model_doc):
    from kernel.fastpaths.one_statement import in_one_statement

    assert in_one_statement(Model, model_doc())
    assert not in_one_statement(Model, {**model_doc(), "definition": {"tags": ["x"]}})
    assert not in_one_statement(
        Model, {**model_doc(), "derived_from": {"model": "a", "version": "1.0.0", "relation": "finetune"}}
    )


@pytest.mark.django_db(transaction=True)
def test_a_write_that_waited_for_the_lock_is_stamped_after_the_write_it_waited_for(api, model_doc):
    """The moment of a one-statement write (its rows' timestamps, its change-log entry) is read once it holds the
    lock, as the ORM path reads it; taken when the statement was sent, a write that waited would be stamped before
    the write it waited for, and ``?at=`` (the change log, by time) would name the wrong current version."""
    models = "/api/v1/models/llama2-7b-chat"
    for version in ("1.0.0", "1.1.0"):
        assert api.post("/api/v1/models", model_doc(version=version), format="json").status_code == 201

    def while_another_write_holds_the_lock(send):
        held, released = threading.Event(), {}

        def hold():
            try:
                with transaction.atomic():
                    Model.objects.select_for_update().get(name="llama2-7b-chat")
                    held.set()
                    time.sleep(0.5)
                    released["at"] = timezone.now()
            finally:
                connections.close_all()

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(10)
        response = send()
        holder.join()
        return response, released["at"]

    response, released = while_another_write_holds_the_lock(
        lambda: api.post(f"{models}/versions", model_doc(version="1.2.0"), format="json")
    )
    assert response.status_code == 201
    registered = ModelVersion.objects.get(version="1.2.0")
    entry = ChangeLogEntry.objects.get(action="model.version_registered", version="1.2.0")
    assert registered.created_at >= released and entry.at >= released and Model.objects.get().updated_at >= released
    assert response.json()["created_at"] == registered.created_at.isoformat().replace("+00:00", "Z")

    response, released = while_another_write_holds_the_lock(lambda: api.post(f"{models}/versions/1.1.0/activate"))
    assert response.status_code == 200
    entry = ChangeLogEntry.objects.get(action="model.version_activated")
    assert entry.at >= released and ModelVersion.objects.get(version="1.1.0").updated_at >= released
