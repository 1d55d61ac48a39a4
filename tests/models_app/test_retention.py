"""Retention: set-based archiving, guards, purge to tombstones, the API, and concurrency on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone

from kernel.rules import dependencies
from kernel.writes.delete import soft_delete
from kernel.writes.lifecycle import activate, archive, deprecate
from kernel.writes.register import register as do_register
from models_app.models import Model, ModelVersion, RetentionTotals
from pipelines_app.models import Pipeline
from tests.conftest import _client_for
from tests.pipelines_app.conftest import pipeline, step

pytestmark = pytest.mark.django_db


def register(model_doc, name: str, versions, **fields) -> Model:
    for version in versions:
        model = do_register(Model, model_doc(name=name, version=version, **fields)).version.model
    return model


def statuses(name: str) -> dict[str, str]:
    return dict(ModelVersion.objects.filter(model__name=name).values_list("version", "status"))


@pytest.fixture
def staff_api(db):
    """A staff user who may apply retention: a run archives and purges model versions."""
    user = get_user_model().objects.create_user(username="ops", password="unused-password-123", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="models_app", codename="delete_modelversion")
    )
    return _client_for(user)


def test_retention_keeps_each_models_newest_releases_and_archives_the_rest(model_doc, settings):
    settings.RETENTION_KEEP = 2
    register(model_doc, "a", ["1.0.0", "1.1.0", "2.0.0", "2.1.0"])
    register(model_doc, "b", ["1.0.0", "1.1.0", "1.2.0"], retention_keep=1)
    register(model_doc, "c", ["1.0.0"])

    report = Model.objects.apply_retention()

    assert statuses("a") == {"1.0.0": "archived", "1.1.0": "archived", "2.0.0": "active", "2.1.0": "active"}
    assert statuses("b") == {"1.0.0": "archived", "1.1.0": "archived", "1.2.0": "active"}
    assert statuses("c") == {"1.0.0": "active"}
    assert report.counts["archived"] == 4
    archived = ModelVersion.objects.filter(status="archived")
    assert set(archived.values_list("storage_tier", flat=True)) == {"cold"}
    assert archived.filter(archived_at__isnull=True).count() == 0
    assert ModelVersion.objects.filter(status="active").values_list("storage_tier", flat=True).distinct().get() == "hot"


def test_retention_is_set_based_its_query_count_does_not_grow_with_the_registry(
    model_doc, django_assert_max_num_queries
):
    for index in range(25):
        register(model_doc, f"m{index}", ["1.0.0", "1.1.0", "1.2.0"])

    # Per batch: one query per guard (aliases, pipelines, bindings) and the outbox insert beside the log's.
    with django_assert_max_num_queries(27):
        report = Model.objects.apply_retention(keep=1)

    assert report.counts["archived"] == 50


def test_retention_never_archives_the_current_version_and_says_why_it_kept_it(model_doc):
    model = register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0"])
    activate(model.versions.get(version="1.0.0"))

    report = Model.objects.apply_retention(keep=1)

    assert statuses("a") == {"1.0.0": "active", "1.1.0": "archived", "1.2.0": "active"}
    assert report.protected == [
        {
            "id": str(model.versions.get(version="1.0.0").pk),
            "name": "a",
            "version": "1.0.0",
            "reasons": ["current version"],
        }
    ]


def test_retention_never_archives_a_version_an_active_pipeline_pins(model_doc):
    register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0", "1.3.0"])
    do_register(Pipeline, pipeline(step("gen", type="inference", model="a@1.1.0")))

    report = Model.objects.apply_retention(keep=1)

    assert statuses("a") == {"1.0.0": "archived", "1.1.0": "active", "1.2.0": "archived", "1.3.0": "active"}
    assert [(p["version"], p["reasons"]) for p in report.protected] == [("1.1.0", ["pipeline p@1.0.0"])]


def test_a_deprecated_pipeline_protects_nothing_from_retention(model_doc):
    register(model_doc, "a", ["1.0.0", "1.1.0"])
    deprecate(do_register(Pipeline, pipeline(step("gen", type="inference", model="a@1.0.0"))).version)

    Model.objects.apply_retention(keep=1)

    assert statuses("a")["1.0.0"] == "archived"


def test_the_set_form_of_the_pipeline_guard_protects_what_the_per_object_form_does(model_doc):
    register(model_doc, "a", ["1.0.0", "1.1.0", "2.0.0-rc.1"])
    register(model_doc, "b", ["1.0.0", "1.1.0"])
    do_register(
        Pipeline,
        pipeline(step("x", type="inference", model="a@2.0.0-rc.1"), step("y", "x", type="inference", model="b")),
    )

    protected = dependencies.protected_ids(ModelVersion.objects.all())

    names = {
        f"{v.model.name}@{v.version}" for v in ModelVersion.objects.filter(pk__in=protected).select_related("model")
    }
    # The pin protects its version; the unpinned step protects b's newest live version.
    assert names == {"a@2.0.0-rc.1", "b@1.1.0"}


def test_a_guard_without_a_set_form_is_asked_row_by_row(model_doc):
    register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0"])

    def binds_1_0_0(version):
        return ["binding demo"] if version.version == "1.0.0" else []

    dependencies.register_guard("models_app.ModelVersion", binds_1_0_0)
    try:
        report = Model.objects.apply_retention(keep=1)
    finally:
        dependencies._guards["models_app.ModelVersion"].remove(binds_1_0_0)

    assert statuses("a") == {"1.0.0": "active", "1.1.0": "archived", "1.2.0": "active"}
    assert report.protected[0]["reasons"] == ["binding demo"]


def test_prereleases_are_not_counted_or_archived(model_doc):
    register(model_doc, "a", ["1.0.0-rc.1", "1.0.0", "1.1.0-rc.1", "1.1.0"])

    Model.objects.apply_retention(keep=1)

    assert statuses("a") == {"1.0.0-rc.1": "active", "1.0.0": "archived", "1.1.0-rc.1": "active", "1.1.0": "active"}


def test_a_dry_run_reports_the_same_and_changes_nothing(model_doc):
    register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0"])

    dry = Model.objects.apply_retention(keep=1, dry_run=True)
    assert set(statuses("a").values()) == {"active"}
    assert RetentionTotals.current().runs == 0

    real = Model.objects.apply_retention(keep=1)
    assert [a["version"] for a in dry.archived] == [a["version"] for a in real.archived] == ["1.1.0", "1.0.0"]


def test_a_second_run_changes_nothing(model_doc):
    register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0"])
    Model.objects.apply_retention(keep=1)
    before = list(ModelVersion.objects.values_list("pk", "status", "archived_at", "updated_at").order_by("pk"))

    again = Model.objects.apply_retention(keep=1)

    assert again.counts["archived"] == 0
    assert list(ModelVersion.objects.values_list("pk", "status", "archived_at", "updated_at").order_by("pk")) == before
    assert RetentionTotals.current().archived == 2


def test_a_manual_archive_moves_the_version_to_the_cold_tier(model_doc):
    model = register(model_doc, "a", ["1.0.0", "1.1.0"])

    version = archive(model.versions.get(version="1.0.0"))

    version.refresh_from_db()
    assert (version.status, version.storage_tier) == ("archived", "cold") and version.archived_at is not None


def age(version: ModelVersion, days: int) -> None:
    ModelVersion.objects.filter(pk=version.pk).update(archived_at=timezone.now() - timedelta(days=days))


def test_purge_turns_long_archived_versions_into_tombstones_that_keep_number_and_checksum(model_doc, settings, api):
    settings.RETENTION_PURGE_AFTER_DAYS = 30
    model = register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0"])
    old, recent = archive(model.versions.get(version="1.0.0")), archive(model.versions.get(version="1.1.0"))
    age(old, 31)
    age(recent, 29)
    checksum = old.spec["artifact"]["checksum"]

    report = Model.objects.apply_retention(keep=3)

    assert [p["version"] for p in report.purged] == ["1.0.0"]
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.purged_at is not None and old.storage_tier == "purged" and old.status == "archived"
    assert old.spec == {"artifact": {"checksum": checksum}}
    assert recent.purged_at is None and recent.storage_tier == "cold" and "runtime" in recent.spec
    # The number is never reused.
    response = api.post("/api/v1/models", model_doc(name="a", version="1.0.0"), format="json")
    assert response.status_code == 409


def test_a_purge_that_cannot_delete_the_artifacts_leaves_the_version_archived_and_reports_it(model_doc, monkeypatch):
    model = register(model_doc, "a", ["1.0.0", "1.1.0"])
    age(archive(model.versions.get(version="1.0.0")), 400)

    def storage_down(self):
        raise OSError("storage unreachable")

    monkeypatch.setattr(ModelVersion, "delete_stored_artifacts", storage_down)
    report = Model.objects.apply_retention()

    version = model.versions.get(version="1.0.0")
    assert version.purged_at is None and version.storage_tier == "cold" and "runtime" in version.spec
    assert report.purge_failed == [
        {"id": str(version.pk), "name": "a", "version": "1.0.0", "error": "storage unreachable"}
    ]
    assert RetentionTotals.current().purge_failures == 1

    monkeypatch.undo()
    Model.objects.apply_retention()
    version.refresh_from_db()
    assert version.purged_at is not None


def test_retention_leaves_deleted_models_alone(model_doc):
    model = register(model_doc, "a", ["1.0.0", "1.1.0"])
    soft_delete(model)

    assert Model.objects.apply_retention(keep=1).counts["archived"] == 0
    assert statuses("a") == {"1.0.0": "active", "1.1.0": "active"}


def test_model_apply_retention_is_scoped_to_that_model(model_doc):
    register(model_doc, "a", ["1.0.0", "1.1.0"])
    b = register(model_doc, "b", ["1.0.0", "1.1.0"])

    archived = b.apply_retention(keep=1)

    assert [v.version for v in archived] == ["1.0.0"]
    assert statuses("a") == {"1.0.0": "active", "1.1.0": "active"}


def test_retention_keep_is_bounded_in_the_document_and_the_database(api, model_doc):
    response = api.post("/api/v1/models", model_doc(retention_keep=11), format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "/retention_keep"

    from django.db import IntegrityError, transaction

    model = register(model_doc, "a", ["1.0.0"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Model.objects.filter(pk=model.pk).update(retention_keep=11)


# -- the API ----------------------------------------------------------------------------------------------------


def test_apply_endpoint_is_staff_only(api, model_doc):
    register(model_doc, "a", ["1.0.0", "1.1.0"])

    response = api.post("/api/v1/retention/apply", {"keep": 1}, format="json")

    assert response.status_code == 403 and response.json()["errors"][0]["code"] == "permission_denied"
    assert statuses("a") == {"1.0.0": "active", "1.1.0": "active"}


def test_apply_endpoint_dry_run_and_real_run(staff_api, model_doc):
    register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0"])
    register(model_doc, "b", ["1.0.0", "1.1.0"])

    dry = staff_api.post("/api/v1/retention/apply", {"model": "a", "keep": 1, "dry_run": True}, format="json")
    assert dry.status_code == 200
    assert dry.json()["counts"]["archived"] == 2 and dry.json()["dry_run"] is True
    assert set(statuses("a").values()) == {"active"}

    real = staff_api.post("/api/v1/retention/apply", {"model": "a", "keep": 1}, format="json").json()
    assert sorted(item["version"] for item in real["archived"]) == ["1.0.0", "1.1.0"]
    assert statuses("b") == {"1.0.0": "active", "1.1.0": "active"}


@pytest.mark.parametrize(
    ("body", "status", "path"),
    [
        ({"keep": 0}, 400, "/keep"),
        ({"keep": "3"}, 400, "/keep"),
        ({"dry_run": "yes"}, 400, "/dry_run"),
        ({"surprise": 1}, 400, "/surprise"),
        ({"model": "nope"}, 404, "/model"),
        ({"model": "a\n"}, 404, "/model"),
        ([1], 400, ""),
    ],
)
def test_apply_endpoint_rejects_bad_requests_with_the_path(staff_api, model_doc, body, status, path):
    register(model_doc, "a", ["1.0.0", "1.1.0"])

    response = staff_api.post("/api/v1/retention/apply", body, format="json")

    assert response.status_code == status
    assert response.json()["errors"][0]["path"] == path
    assert statuses("a") == {"1.0.0": "active", "1.1.0": "active"}


def test_retention_stats_show_tiers_and_what_the_next_run_would_do(api, staff_api, model_doc, settings):
    settings.RETENTION_KEEP = 1
    model = register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0", "1.3.0"])
    activate(model.versions.get(version="1.0.0"))
    age(archive(model.versions.get(version="1.1.0")), 400)

    body = api.get("/api/v1/retention/stats").json()

    assert body["versions_by_tier"] == {"hot": 3, "cold": 1}
    assert body["next_run"] == {
        "would_archive": 1,
        "would_keep_current": 1,
        "would_keep_protected": 0,
        "would_purge": 1,
    }
    Model.objects.apply_retention()
    after = api.get("/api/v1/retention/stats").json()
    assert after["versions_by_tier"] == {"hot": 2, "cold": 1, "purged": 1}
    assert after["totals"]["archived"] == 1 and after["totals"]["purged"] == 1 and after["totals"]["runs"] == 1
    # The outlook comes from the statistics snapshot (a pass over every version is too slow per request): it is
    # the one of `next_run_as_of` until the snapshot is refreshed, by beat or by staff asking.
    assert after["next_run"] == body["next_run"] and after["next_run_as_of"] == body["next_run_as_of"]
    assert api.get("/api/v1/retention/stats?refresh=true").status_code == 403
    fresh = staff_api.get("/api/v1/retention/stats?refresh=true").json()
    assert fresh["next_run"] == {
        "would_archive": 0,
        "would_keep_current": 1,
        "would_keep_protected": 0,
        "would_purge": 0,
    }
    assert fresh["next_run_as_of"] > body["next_run_as_of"]
    assert api.get("/api/v1/retention/stats?refrsh=true").json()["errors"][0]["parameter"] == "refrsh"


def test_the_outlook_agrees_with_a_dry_run(model_doc):
    from kernel.models.aliases import Alias

    for name in ("a", "b", "c"):
        register(model_doc, name, ["1.0.0", "1.1.0", "1.2.0", "1.3.0"])
    activate(Model.objects.get(name="a").versions.get(version="1.0.0"))
    do_register(Pipeline, pipeline(step("gen", type="inference", model="b@1.1.0")))
    Alias.move(Model.objects.get(name="c"), "champion", "1.0.0")

    outlook = Model.objects.retention_outlook(keep=1)
    dry = Model.objects.apply_retention(keep=1, dry_run=True).counts

    assert outlook == {"would_archive": 6, "would_keep_current": 1, "would_keep_protected": 2, "would_purge": 0}
    assert (dry["archived"], dry["protected"]) == (
        outlook["would_archive"],
        outlook["would_keep_current"] + outlook["would_keep_protected"],
    )


# -- concurrency on PostgreSQL --------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_end_in_the_state_of_one_run(model_doc, settings):
    settings.RETENTION_BATCH_MODELS = 3
    for index in range(12):
        register(model_doc, f"m{index}", ["1.0.0", "1.1.0", "1.2.0", "1.3.0"])
    barrier = threading.Barrier(4)
    reports, errors = [], []

    def run():
        try:
            barrier.wait()
            reports.append(Model.objects.apply_retention(keep=2, report_limit=None))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    # Every version archived exactly once, by exactly one of the runs, and the totals agree.
    archived_by_runs = [item["id"] for report in reports for item in report.archived]
    assert len(archived_by_runs) == len(set(archived_by_runs)) == 24
    assert ModelVersion.objects.filter(status="archived").count() == 24
    assert RetentionTotals.current().archived == 24 and RetentionTotals.current().runs == 4
    assert set(ModelVersion.objects.filter(status="archived").values_list("version", flat=True)) == {"1.0.0", "1.1.0"}


def test_the_tasks_run_inline_when_no_broker_is_configured(model_doc):
    from django.conf import settings

    if settings.CELERY_BROKER_URL:  # with a broker the tasks go to a worker (tests/integration/test_celery_jobs.py)
        pytest.skip("CELERY_BROKER_URL is set: this is the embedded default's no-broker mode")
    from kernel.models import StatsSnapshot
    from kernel.tasks import refresh_stats
    from models_app.tasks import apply_retention

    register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0"])

    summary = apply_retention.delay(keep=1).get()
    refreshed = refresh_stats.delay().get()

    assert summary == {"dry_run": False, "archived": 2, "protected": 0, "purged": 0, "purge_failed": 0, "models": 1}
    assert StatsSnapshot.objects.get().data["models"]["versions_by_status"] == {"active": 1, "archived": 2}
    assert refreshed["refreshed_at"]


def test_retention_keeps_a_version_with_a_binding_in_service_and_archives_it_once_disabled(
    model_doc, django_assert_max_num_queries
):
    from bindings_app.models import ProviderBinding

    register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0"])
    bound = ModelVersion.objects.get(model__name="a", version="1.0.0")
    binding = ProviderBinding.deploy(
        bound,
        provider="openai",
        provider_model_id="gpt-4o",
        endpoint_url="https://api.example.com/v1",
        region="us-east-1",
        environment="production",
        cost_per_1k_input_tokens=1,
        cost_per_1k_output_tokens=1,
    )
    # The set form answers in one query, not one per version (and the guards together agree with it).
    from bindings_app.guards import model_versions_with_bindings

    with django_assert_max_num_queries(1):
        assert set(model_versions_with_bindings(ModelVersion.objects.all())) == {bound.pk}
    assert dependencies.protected_ids(ModelVersion.objects.all()) == {bound.pk}

    report = Model.objects.apply_retention(keep=1)

    assert statuses("a") == {"1.0.0": "active", "1.1.0": "archived", "1.2.0": "active"}
    assert report.protected[0]["reasons"] == [f"{binding} of 1.0.0"]

    binding.disable()
    Model.objects.apply_retention(keep=1)
    assert statuses("a")["1.0.0"] == "archived"


def test_retention_keeps_an_aliased_version_of_every_kind(model_doc):
    from kernel.models.aliases import Alias

    model = register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0"])
    Alias.move(model, "champion", "1.0.0")

    report = Model.objects.apply_retention(keep=1)

    assert statuses("a") == {"1.0.0": "active", "1.1.0": "archived", "1.2.0": "active"}
    assert report.protected[0]["reasons"] == ["alias @champion"]
    # An alias of another kind or another model with the same version number protects nothing here.
    Alias.objects.filter(alias="champion").update(kind="pipeline")
    Model.objects.apply_retention(keep=1)
    assert statuses("a")["1.0.0"] == "archived"


def test_apply_endpoint_without_a_body_is_a_400_and_archives_nothing(staff_api, model_doc):
    register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0"])

    response = staff_api.post("/api/v1/retention/apply")

    assert response.status_code == 400 and "body is required" in response.json()["errors"][0]["message"]
    assert set(statuses("a").values()) == {"active"}


# -- the set-based write: log, outbox, query counts --------------------------------------------------------------


def test_each_archived_version_gets_a_change_log_entry_with_its_status_before(model_doc):
    from kernel.models.changelog import ChangeLogEntry

    model = register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0"])
    deprecate(model.versions.get(version="1.0.0"))
    versions = dict(model.versions.values_list("version", "pk"))
    before = ChangeLogEntry.objects.count()

    Model.objects.apply_retention(keep=1)

    entries = list(
        ChangeLogEntry.objects.filter(action="model.version_archived").values(
            "actor", "kind", "name", "version", "object_id", "changes"
        )
    )
    assert entries == [  # newest first, as ranked
        {
            "actor": "job:retention",
            "kind": "model",
            "name": "a",
            "version": "1.1.0",
            "object_id": str(versions["1.1.0"]),
            "changes": {"status": ["active", "archived"], "storage_tier": ["hot", "cold"]},
        },
        {
            "actor": "job:retention",
            "kind": "model",
            "name": "a",
            "version": "1.0.0",
            "object_id": str(versions["1.0.0"]),
            "changes": {"status": ["deprecated", "archived"], "storage_tier": ["hot", "cold"]},
        },
    ]
    # Two archive entries and the run's own; a dry run or a second run appends no archive entry.
    assert ChangeLogEntry.objects.count() == before + 3
    Model.objects.apply_retention(keep=1)
    Model.objects.apply_retention(keep=1, dry_run=True)
    assert ChangeLogEntry.objects.filter(action="model.version_archived").count() == 2


def test_archive_entries_reach_the_outbox_only_when_a_subscription_wants_them(model_doc):
    from kernel.models.webhooks import OutboxItem, WebhookSubscription

    for name in ("a", "b"):
        register(model_doc, name, ["1.0.0", "1.1.0", "1.2.0"])
    OutboxItem.objects.all().delete()
    WebhookSubscription.objects.create(url="https://hooks.example.com/p", events=["pipeline.*"])
    WebhookSubscription.objects.create(url="https://hooks.example.com/off", events=["*"], active=False)

    Model.objects.apply_retention(keep=2)
    assert not OutboxItem.objects.exists()  # nobody active wants model events: nothing written twice

    WebhookSubscription.objects.create(url="https://hooks.example.com/m", events=["model.version_archived"])
    Model.objects.apply_retention(keep=1)
    outbox = OutboxItem.objects.select_related("entry").order_by("entry_id")
    assert [
        (item.entry.name, item.entry.version) for item in outbox if item.entry.action == "model.version_archived"
    ] == [
        ("a", "1.1.0"),
        ("b", "1.1.0"),
    ]


@pytest.mark.postgres
def test_a_batch_takes_the_same_queries_however_many_versions_it_archives(model_doc, settings):
    from django.test.utils import CaptureQueriesContext

    settings.RETENTION_BATCH_MODELS = 10
    few = [f"1.{minor}.0" for minor in range(2)]
    many = [f"1.{minor}.0" for minor in range(12)]

    def queries(versions: list[str], prefix: str) -> tuple[int, int]:
        for index in range(3):
            register(model_doc, f"{prefix}{index}", versions)
        with CaptureQueriesContext(connection) as captured:
            report = Model.objects.filter(name__startswith=prefix).apply_retention(keep=1)
        return len(captured), report.counts["archived"]

    queries(few, "warm")  # the first run creates the totals row
    assert queries(few, "few") == (queries(many, "many")[0], 3)
    assert queries(many, "more")[1] == 33


# -- the reads: only models with work, the LATERAL probe, no JIT ------------------------------------------------------


def test_a_run_locks_and_reads_candidates_only_for_models_with_a_release_past_keep(model_doc, settings, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    from models_app.retention import Retention

    settings.RETENTION_KEEP = 2
    register(model_doc, "within", ["1.0.0", "1.1.0"])
    register(model_doc, "beyond", ["1.0.0", "1.1.0", "1.2.0"])
    register(model_doc, "pre", ["1.0.0", "1.1.0", "1.2.0-rc.1"])  # a prerelease does not count against keep
    worked_on = []
    archive_batch = Retention._archive_batch
    monkeypatch.setattr(
        Retention, "_archive_batch", lambda self, names: worked_on.append(dict(names)) or archive_batch(self, names)
    )

    report = Model.objects.apply_retention()

    assert report.counts["models"] == 3 and report.counts["archived"] == 1
    assert statuses("beyond")["1.0.0"] == "archived"
    assert worked_on == [{Model.objects.get(name="beyond").pk: "beyond"}]

    # Nothing past keep any more: the run walks the three models and locks none.
    with CaptureQueriesContext(connection) as captured:
        again = Model.objects.apply_retention()
    assert again.counts["models"] == 3 and again.counts["archived"] == 0
    assert len(worked_on) == 1 and not [query for query in captured if "FOR UPDATE" in query["sql"]]


@pytest.mark.postgres
@pytest.mark.parametrize("keep", [None, 1, 2])
def test_the_lateral_probe_finds_the_window_querys_candidates(model_doc, keep, settings):
    from models_app.retention import Retention

    settings.RETENTION_KEEP = 2
    register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.0.1-rc.1"])
    register(model_doc, "b", ["0.1.0", "0.2.0", "0.3.0", "0.10.0"], retention_keep=1)
    register(model_doc, "c", ["1.0.0"])
    b = Model.objects.get(name="b")
    activate(b.versions.get(version="0.1.0"))
    archive(b.versions.get(version="0.3.0"))
    deprecate(Model.objects.get(name="c").versions.get())

    retention = Retention(Model.objects.all(), keep=keep, dry_run=True, report_limit=0)
    sql, params = retention._candidates(Model.objects.alive().with_retention_keep(keep))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pk FROM ({sql}) c", params)
        probed = {row[0] for row in cursor.fetchall()}
    ranked = set(ModelVersion.objects.all().ranked_beyond_retention(keep).values_list("pk", flat=True))

    assert probed == ranked and ranked  # the same rows, and some
    expected = {None: {"a": 2, "b": 2}, 1: {"a": 3, "b": 2}, 2: {"a": 2, "b": 1}}[keep]
    names = dict(ModelVersion.objects.filter(pk__in=probed).values_list("pk", "model__name"))
    assert {name: list(names.values()).count(name) for name in set(names.values())} == expected


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # SET LOCAL ends with the top-level transaction: no test-wide one here
def test_retentions_statements_run_without_jit_and_the_setting_does_not_outlive_the_batch(model_doc):
    register(model_doc, "a", ["1.0.0", "1.1.0", "1.2.0"])
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        before = cursor.fetchone()[0]
    seen = []

    def show_jit(execute, sql, params, many, context):
        if "LATERAL" in sql:
            with connection.cursor() as cursor:
                cursor.execute("SHOW jit")
                seen.append(cursor.fetchone()[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(show_jit):
        Model.objects.apply_retention(keep=1)
        Model.objects.retention_outlook(keep=1)

    assert seen == ["off", "off"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == before
