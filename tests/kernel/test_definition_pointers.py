"""The latest/current pointers every definition keeps: lookups and lists read them, so they must always agree
with what ranking the versions would say (``Definition.repoint`` recomputes them from scratch)."""

from __future__ import annotations

import random

import pytest
from django.db import IntegrityError, transaction

from kernel.models.definitions import backfill_latest_flags
from kernel.reads.lookups import lookup
from kernel.writes.delete import restore, soft_delete
from kernel.writes.lifecycle import activate, archive, deprecate, move
from kernel.writes.register import register
from models_app.models import Model, ModelVersion
from pipelines_app.models import Pipeline
from policies_app.models import Policy
from tests.conftest import assert_latest_flags_follow_pointers

pytestmark = pytest.mark.django_db


def pointers(name: str) -> tuple[str | None, str | None]:
    model = Model.objects.select_related("latest_version", "current_version").get(name=name)
    return (
        model.latest_version.version if model.latest_version else None,
        model.current_version.version if model.current_version else None,
    )


def assert_pointers_agree_with_the_versions(model: Model) -> None:
    model.refresh_from_db()
    kept = (model.latest_version_id, model.current_version_id)
    assert_latest_flags_follow_pointers()
    model.repoint()
    assert (model.latest_version_id, model.current_version_id) == kept
    assert_latest_flags_follow_pointers()


def test_registration_moves_latest_only_to_a_higher_release(model_doc):
    register(Model, model_doc(version="1.0.0"))
    assert pointers("llama2-7b-chat") == ("1.0.0", None)
    register(Model, model_doc(version="2.0.0-rc.1"))  # a prerelease never outranks a release
    register(Model, model_doc(version="0.9.0"))  # a hotfix of an older line
    assert pointers("llama2-7b-chat") == ("1.0.0", None)
    register(Model, model_doc(version="1.10.0"))
    assert pointers("llama2-7b-chat") == ("1.10.0", None)


def test_a_prerelease_is_latest_until_a_release_exists(model_doc):
    register(Model, model_doc(version="1.0.0-alpha"))
    register(Model, model_doc(version="1.0.0-alpha.1"))
    assert pointers("llama2-7b-chat") == ("1.0.0-alpha.1", None)
    register(Model, model_doc(version="0.1.0"))
    assert pointers("llama2-7b-chat") == ("0.1.0", None)


def test_lifecycle_moves_keep_current_and_latest(model_doc):
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        register(Model, model_doc(version=version))
    model = Model.objects.get()
    activate(model.resolve_version("1.1.0"))
    assert pointers("llama2-7b-chat") == ("2.0.0", "1.1.0")
    activate(model.resolve_version("2.0.0"))
    assert pointers("llama2-7b-chat") == ("2.0.0", "2.0.0")
    archive(model.resolve_version("2.0.0"))  # the latest retires: the next release takes over, current clears
    assert pointers("llama2-7b-chat") == ("1.1.0", None)
    activate(model.resolve_version("1.1.0"))
    deprecate(model.resolve_version("1.1.0"))  # deprecated still counts as latest, but is no longer current
    assert pointers("llama2-7b-chat") == ("1.1.0", None)


def test_when_every_version_is_archived_latest_is_the_highest_archived_one(model_doc):
    for version in ("1.0.0", "1.1.0"):
        register(Model, model_doc(version=version))
    model = Model.objects.get()
    archive(model.resolve_version("1.1.0"))
    archive(model.resolve_version("1.0.0"))
    assert pointers("llama2-7b-chat") == ("1.1.0", None)
    register(Model, model_doc(version="0.5.0"))  # a live version outranks every archived one
    assert pointers("llama2-7b-chat") == ("0.5.0", None)


def test_pointers_agree_with_ranking_after_a_random_history(model_doc):
    rng = random.Random(14)
    versions = []
    for _step in range(60):
        action = rng.choice(["register", "register", "activate", "deprecate", "archive"])
        if action == "register" or not versions:
            text = f"{rng.randint(0, 3)}.{rng.randint(0, 3)}.{rng.randint(0, 3)}" + rng.choice(
                ["", "", "-rc.1", "-alpha"]
            )
            if text not in versions:
                register(Model, model_doc(version=text))
                versions.append(text)
            continue
        version = Model.objects.get().resolve_version(rng.choice(versions))
        if action in ("activate", "deprecate") and version.status == "archived":
            continue
        move(version, action)
        assert_pointers_agree_with_the_versions(Model.objects.get())
    assert_pointers_agree_with_the_versions(Model.objects.get())


def test_retention_keeps_the_pointers(model_doc):
    for i in range(5):
        register(Model, model_doc(version=f"1.{i}.0"))
    model = Model.objects.get()
    activate(model.resolve_version("1.0.0"))
    model.apply_retention(keep=1)
    assert pointers("llama2-7b-chat") == ("1.4.0", "1.0.0")
    assert latest_flagged("llama2-7b-chat") == ["1.4.0"]
    assert_pointers_agree_with_the_versions(model)


def test_every_kind_keeps_pointers(model_doc):
    from tests.conftest import example

    register(Model, model_doc(version="1.0.0"))
    activate(Model.objects.get().resolve_version("1.0.0"))
    pipeline = register(Pipeline, example("pipelines_app", "text-generation-pipeline")).version
    policy = register(Policy, example("policies_app", "user-rate-limits")).version
    activate(pipeline)
    for definition, version in ((Pipeline.objects.get(), pipeline), (Policy.objects.get(), policy)):
        assert definition.latest_version_id == version.pk
    assert_latest_flags_follow_pointers()
    assert Pipeline.objects.get().current_version_id == pipeline.pk
    assert Policy.objects.get().current_version_id is None


def test_lookup_reads_latest_and_current_through_the_pointer(model_doc, django_assert_num_queries):
    register(Model, model_doc(version="1.0.0"))
    register(Model, model_doc(version="1.1.0"))
    activate(Model.objects.get().resolve_version("1.0.0"))
    with django_assert_num_queries(1):
        latest = lookup(Model, "llama2-7b-chat")
        assert latest.document()["name"] == "llama2-7b-chat"
    with django_assert_num_queries(1):
        assert lookup(Model, "llama2-7b-chat", "current").version == "1.0.0"
    assert latest.version == "1.1.0"


def test_a_rejected_duplicate_registration_leaves_the_pointer_alone(model_doc):
    from kernel.exceptions import Conflict

    register(Model, model_doc(version="2.0.0"))
    again = model_doc(version="2.0.0", description="again")
    again["artifact"]["checksum"] = "sha256:" + "c" * 64  # the same digest would be a retry, not a conflict
    with pytest.raises(Conflict):
        register(Model, again)
    assert pointers("llama2-7b-chat") == ("2.0.0", None)
    assert ModelVersion.objects.count() == 1


def latest_flagged(name: str) -> list[str]:
    return list(ModelVersion.objects.filter(model__name=name, is_latest=True).values_list("version", flat=True))


def test_the_latest_flag_follows_the_pointer_through_every_write(model_doc):
    steps = []

    def check(expected: str | None) -> None:
        assert_latest_flags_follow_pointers()
        steps.append(latest_flagged("llama2-7b-chat"))
        assert steps[-1] == ([expected] if expected else [])

    register(Model, model_doc(version="1.0.0"))
    check("1.0.0")
    register(Model, model_doc(version="2.0.0"))
    check("2.0.0")
    register(Model, model_doc(version="1.5.0"))  # a hotfix below the latest leaves the flag where it is
    check("2.0.0")
    register(Model, model_doc(version="3.0.0-rc.1"))  # a prerelease never outranks a release
    check("2.0.0")
    model = Model.objects.get()
    activate(model.resolve_version("2.0.0"))
    check("2.0.0")
    deprecate(model.resolve_version("2.0.0"))
    check("2.0.0")
    archive(model.resolve_version("2.0.0"))  # the latest retires: the next release takes the flag
    check("1.5.0")
    soft_delete(model.resolve_version("1.5.0"))  # a deleted version is never latest
    check("1.0.0")
    soft_delete(model)  # the definition's pointer stays; the lists leave deleted definitions out by the join
    check("1.0.0")
    restore(model)
    check("1.0.0")
    archive(model.resolve_version("1.0.0"))  # every live release archived: the prerelease is latest
    check("3.0.0-rc.1")
    archive(model.resolve_version("3.0.0-rc.1"))  # all archived: the highest archived release
    check("2.0.0")


def test_a_deleted_model_leaves_the_list_and_comes_back_on_restore(api, model_doc):
    register(Model, model_doc(version="1.0.0", tags=["x"]))
    soft_delete(Model.objects.get())
    assert api.get("/api/v1/models?tag=x").json()["count"] == 0
    restore(Model.objects.get())
    assert [r["version"] for r in api.get("/api/v1/models?tag=x").json()["results"]] == ["1.0.0"]


def test_the_database_refuses_a_second_latest_version(model_doc):
    register(Model, model_doc(version="1.0.0"))
    register(Model, model_doc(version="1.1.0"))
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.update(is_latest=True)


def test_the_backfill_flags_what_the_pointers_name(model_doc):
    for version in ("1.0.0", "1.1.0"):
        register(Model, model_doc(version=version))
        register(Model, model_doc(name="other", version=version))
    archive(Model.objects.get(name="other").resolve_version("1.1.0"))
    ModelVersion.objects.update(is_latest=False)  # as the migration finds the rows: no flag anywhere
    backfill_latest_flags(Model, ModelVersion)
    assert_latest_flags_follow_pointers()
    assert latest_flagged("llama2-7b-chat") == ["1.1.0"] and latest_flagged("other") == ["1.0.0"]
