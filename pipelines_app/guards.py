"""What a pipeline protects in the model registry. Registered from ``PipelinesAppConfig.ready`` with
``registry_project.dependencies.register_guard``, so the model app never imports this one.

Only *active* versions of pipelines that are not deleted protect anything; a deprecated or archived pipeline
version does not hold a model back.

- A step pinned to ``name@1.2.0`` protects that model version from archiving, and the model from deletion.
- An unpinned step (``"model": "llama2-7b-chat"``) runs whichever version the model serves, so it protects the
  model from deletion and the model's *last live version* from archiving: versions may be archived one by one
  as long as at least one non-archived version is left for the pipeline to run.
"""

from __future__ import annotations

from registry_project.definitions import Lifecycle


def _labels(versions) -> list[str]:
    return [f"pipeline {version}" for version in versions.with_parent().order_by("pipeline__name", *versions.model._meta.ordering)]


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
