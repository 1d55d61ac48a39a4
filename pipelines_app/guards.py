"""What a pipeline protects in the model registry. Registered from ``PipelinesAppConfig.ready`` with
``kernel.rules.dependencies.register_guard``, so the model app never imports this one.

Only *active* versions of pipelines that are not deleted protect anything; a deprecated or archived pipeline
version does not hold a model back.

- A step pinned to ``name@1.2.0`` protects that model version from archiving, and the model from deletion.
- A step naming ``name@alias`` protects the alias from deletion (see ``pipelines_using_alias``).
- An unpinned step (``"model": "llama2-7b-chat"``) runs whichever version the model serves, so it protects the
  model from deletion and the model's *last live version* from archiving: versions may be archived one by one
  as long as at least one non-archived version is left for the pipeline to run.

Renaming a model is refused while any present version of a live pipeline names it, whatever its status: the
spec is immutable text, and a deprecated version may be activated again (``pipelines_naming_model``).

``model_versions_protected`` is the set form of the version guard, for retention's set-based archiving: pinned
versions, and for each model an unpinned step runs, its newest live version (so archiving every unprotected
version of a batch at once still leaves the pipeline a version to run).
"""

from __future__ import annotations

from django.db.models import Case, CharField, F, OuterRef, Subquery, Value, When
from django.db.models.functions import Cast, Concat

from kernel.choices import Lifecycle
from kernel.rules.latest import latest_order
from kernel.rules.validation import pointer


def _labels(versions) -> list[str]:
    return [
        f"pipeline {version}"
        for version in versions.with_parent().order_by("pipeline__name", *versions.model._meta.ordering)
    ]


def pipelines_using_model(model) -> list[str]:
    from pipelines_app.models import PipelineVersion

    return _labels(PipelineVersion.objects.in_service().using_model(model.name))


def pipelines_using_model_version(model_version) -> list[str]:
    from pipelines_app.models import PipelineVersion
    from pipelines_app.validation import pinned_reference

    model = model_version.model
    using = PipelineVersion.objects.in_service()
    pinning = using.referencing(pinned_reference(model.name, model_version.parsed))
    other_live = model.versions.exclude(pk=model_version.pk).exclude(status=Lifecycle.ARCHIVED).exists()
    if not other_live:
        pinning = pinning | using.referencing(model.name)
    return _labels(pinning.distinct())


def pipelines_naming_model(model) -> list[str]:
    """Every present version of a live pipeline (any status) with a step naming ``model`` by name, pinned, by
    alias or not, with the JSON Pointer of each such step: a rename would leave them naming nothing."""
    from pipelines_app.models import PipelineVersion
    from pipelines_app.validation import split_model_reference

    naming = PipelineVersion.objects.of_alive().using_model(model.name).with_parent()
    return [
        f"pipeline {version} at {pointer('steps', index, 'model')} (a registered spec never changes: delete that "
        "version, after registering one naming the new name)"
        for version in naming.order_by("pipeline__name", *PipelineVersion._meta.ordering)
        for index, step in enumerate(version.spec.get("steps") or [])
        if isinstance(step, dict)
        and isinstance(step.get("model"), str)
        and split_model_reference(step["model"])[0] == model.name
    ]


def pipelines_using_alias(alias) -> list[str]:
    """In-service pipeline versions with a step naming ``model@alias``, each with the JSON Pointer of every such
    step's reference: deleting the alias would leave the step naming nothing (moving it is fine: the step runs
    whatever the alias points at)."""
    from pipelines_app.models import PipelineVersion

    if alias.kind != "model":
        return []
    reference = f"{alias.definition_name}@{alias.alias}"
    using = PipelineVersion.objects.in_service().referencing(reference).with_parent()
    return [
        f"pipeline {version} at {path}"
        for version in using.order_by("pipeline__name", *PipelineVersion._meta.ordering)
        for path in version.reference_paths(reference)
    ]


def model_versions_protected(versions) -> set:
    """Primary keys among the ModelVersion queryset ``versions`` that an in-service pipeline protects: three
    queries whatever the number of versions."""
    from models_app.models import ModelVersion
    from pipelines_app.models import PipelineVersion

    references: set[str] = set()
    for model_refs in PipelineVersion.objects.in_service().order_by().values_list("model_refs", flat=True).distinct():
        references.update(model_refs)
    pinned = {ref for ref in references if "@" in ref}
    unpinned = references - pinned
    protected: set = set()
    if pinned:
        # The canonical pin text (see pinned_reference): name@MAJOR.MINOR.PATCH[-pre], without build metadata.
        text = lambda name: Cast(name, output_field=CharField())  # noqa: E731
        prerelease = Case(
            When(prerelease="", then=Value("")), default=Concat(Value("-"), "prerelease"), output_field=CharField()
        )
        reference = Concat(
            "model__name",
            Value("@"),
            text("major"),
            Value("."),
            text("minor"),
            Value("."),
            text("patch"),
            prerelease,
            output_field=CharField(),
        )
        # Only the pinned models' versions get their reference built: a retention batch holds thousands of
        # versions, the pins name a few models (the unique name index finds them).
        pinned_models = {ref.rpartition("@")[0] for ref in pinned}
        pinning = versions.filter(model__name__in=pinned_models).annotate(_pin=reference).filter(_pin__in=pinned)
        protected.update(pinning.values_list("pk", flat=True))
    if unpinned:
        newest_live = (
            ModelVersion.objects.filter(model=OuterRef("model"))
            .exclude(status=Lifecycle.ARCHIVED)
            .order_by(*latest_order())
            .values("pk")[:1]
        )
        protected.update(
            versions.filter(model__name__in=unpinned)
            .annotate(_newest=Subquery(newest_live))
            .filter(pk=F("_newest"))
            .values_list("pk", flat=True)
        )
    return protected
