"""MLflow's ``RegisteredModel`` and ``ModelVersion`` messages (mlflow/protos/model_registry.proto) as JSON, from this
registry's rows (the mapping: ``models_app.mlflow_api``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Max, Q

from kernel.choices import Lifecycle
from kernel.models.aliases import Alias
from models_app.models import Model, ModelVersion

# Where a version's MLflow tags live in its metadata, and the tag that shows its semver.
MLFLOW_TAGS = "mlflow_tags"
SEMVER_TAG = "registry.semver"
STAGING_ALIAS = "staging"
STAGES = ("None", "Staging", "Production", "Archived")


def millis(moment) -> int:
    return int(moment.timestamp() * 1000)


def version_tags(version: ModelVersion) -> dict[str, str]:
    tags = version.metadata.get(MLFLOW_TAGS) if isinstance(version.metadata, dict) else None
    return dict(tags) if isinstance(tags, dict) else {}


def model_tags(model: Model) -> dict[str, str]:
    """A registered model's MLflow tags: its labels, and any tag stored before tags were labels that could not be
    one (``Model.mlflow_tags``, migration 0015; a label of the same key wins)."""
    return {**(model.mlflow_tags or {}), **(model.labels or {})}


def source_of(version: ModelVersion) -> str:
    """MLflow's ``source``: as an MLflow client gave it, else where the spec's artifact says the files are."""
    given = (version.spec.get("mlflow") or {}).get("source")
    if given:
        return given
    artifact = version.spec.get("artifact") or {}
    return f"s3://{artifact.get('bucket', '')}/{artifact.get('path', '')}"


def stage_of(version: ModelVersion, aliases: Iterable[str]) -> str:
    if version.status == Lifecycle.ARCHIVED:
        return "Archived"
    if version.is_current:
        return "Production"
    if STAGING_ALIAS in aliases:
        return "Staging"
    return "None"


def model_version(version: ModelVersion, aliases: list[str]) -> dict:
    """``ModelVersion`` (its ``model`` and ``created_by`` read with it)."""
    mlflow = version.spec.get("mlflow") or {}
    tags = {**version_tags(version), SEMVER_TAG: version.version}
    return {
        "name": version.model.name,
        "version": str(version.mlflow_number),
        "creation_timestamp": millis(version.created_at),
        "last_updated_timestamp": millis(version.updated_at),
        "user_id": version.created_by.get_username() if version.created_by_id else "",
        "current_stage": stage_of(version, aliases),
        "description": version.description,
        "source": source_of(version),
        "run_id": mlflow.get("run_id", ""),
        "run_link": mlflow.get("run_link", ""),
        "status": "READY",
        "tags": [{"key": key, "value": value} for key, value in sorted(tags.items())],
        "aliases": sorted(aliases),
    }


def versions_of(models: list[Model], aliases: dict[str, list[Alias]]) -> dict[int, list[ModelVersion]]:
    """The present versions of ``models`` that their documents show, by model id, in two queries whatever the
    number of versions: each model's latest version in each stage (the current one, the ``staging`` alias's, the
    highest-numbered archived one and the highest-numbered other one) and every aliased one."""
    aliased = [alias.version_id for name in aliases for alias in aliases[name]]
    staging = [alias.version_id for name in aliases for alias in aliases[name] if alias.alias == STAGING_ALIAS]
    present = ModelVersion.objects.filter(model__in=models, deleted_at__isnull=True)
    archived = Q(status=Lifecycle.ARCHIVED)
    highest = (
        present.order_by()
        .values("model_id")
        .annotate(
            archived=Max("mlflow_number", filter=archived),
            other=Max("mlflow_number", filter=~archived & Q(is_current=False) & ~Q(pk__in=staging)),
        )
    )
    wanted = Q(is_current=True) | Q(pk__in=aliased)
    for row in highest:
        for number in (row["archived"], row["other"]):
            if number is not None:
                wanted |= Q(model_id=row["model_id"], mlflow_number=number)
    found: dict[int, list[ModelVersion]] = defaultdict(list)
    for version in present.filter(wanted).select_related("model", "created_by").order_by("model_id", "mlflow_number"):
        found[version.model_id].append(version)
    return found


def aliases_of(models: list[Model]) -> dict[str, list[Alias]]:
    """The aliases of ``models``, by model name, in one query."""
    found: dict[str, list[Alias]] = defaultdict(list)
    for alias in Alias.objects.filter(kind=Model.kind, definition_name__in=[m.name for m in models]).order_by("alias"):
        found[alias.definition_name].append(alias)
    return found


def version_aliases(version: ModelVersion) -> list[str]:
    return list(
        Alias.objects.filter(kind=Model.kind, version_id=version.pk).order_by("alias").values_list("alias", flat=True)
    )


def registered_models(models: list[Model]) -> list[dict]:
    """``RegisteredModel`` for each of ``models``, with its latest version in each stage, its aliases and tags:
    three queries for the page, whatever the number of versions."""
    aliases = aliases_of(models)
    versions = versions_of(models, aliases)
    return [_registered_model(model, versions.get(model.pk, []), aliases.get(model.name, [])) for model in models]


def registered_model(model: Model) -> dict:
    return registered_models([model])[0]


def created_registered_model(model: Model) -> dict:
    """A model just created: no versions and no aliases yet, so nothing more is read."""
    return _registered_model(model, [], [])


def _registered_model(model: Model, versions: list[ModelVersion], aliases: list[Alias]) -> dict:
    by_version: dict = defaultdict(list)
    for alias in aliases:
        by_version[alias.version_id].append(alias.alias)
    numbers = {version.pk: version.mlflow_number for version in versions}
    latest: dict[str, ModelVersion] = {}
    for version in versions:  # in number order: the last one seen in a stage is its latest
        latest[stage_of(version, by_version[version.pk])] = version
    return {
        "name": model.name,
        "creation_timestamp": millis(model.created_at),
        "last_updated_timestamp": millis(model.updated_at),
        "user_id": model.owner.get_username() if model.owner_id else "",
        "description": model.description,
        "latest_versions": [
            model_version(latest[stage], by_version[latest[stage].pk]) for stage in STAGES if stage in latest
        ],
        "tags": [{"key": key, "value": value} for key, value in sorted(model_tags(model).items())],
        "aliases": [
            {"alias": alias.alias, "version": str(numbers[alias.version_id])}
            for alias in aliases
            if alias.version_id in numbers
        ],
    }
