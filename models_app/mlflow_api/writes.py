"""MLflow's writes, each made of the kernel's verbs (``kernel.writes``, ``kernel.models.aliases``) so that it is
checked, locked, logged and announced like the same write through ``/api/v1``. A registered model's tags are its
labels (``kernel.writes.update.set_labels``); the only write of its own removes a tag stored before that
(``Model.mlflow_tags``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Max

from kernel.choices import Lifecycle
from kernel.documents.shape import check_labels
from kernel.exceptions import Conflict, DefinitionNotFound
from kernel.models.aliases import Alias
from kernel.writes import lifecycle
from kernel.writes.register import create_definition, register_version_of
from kernel.writes.update import set_labels, update_document
from models_app.mlflow_api.documents import MLFLOW_TAGS, SEMVER_TAG, STAGING_ALIAS, version_aliases, version_tags
from models_app.mlflow_api.search import InvalidSearch
from models_app.models import Model, ModelVersion
from registry_project.logs import log_write

# A version created through MLflow without a semver takes the next free major; a concurrent creation may take it
# first, so the next one is tried (a few times: each try is a registration that lost a race).
SEMVER_TRIES = 5


class InvalidParameter(InvalidSearch):
    code = "invalid_parameter"


def artifact_of(source: str) -> dict:
    """The spec's ``artifact`` for an MLflow ``source`` URI: ``s3://bucket/path`` -> bucket and path; a URI without
    a host (``runs:/<id>/model``, ``models:/m/1``, a local path) names its scheme (or ``local``) as the bucket."""
    try:
        parts = urlsplit(source)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise InvalidParameter(f"source is not a URI: {exc}.", path="source") from None
    bucket = parts.netloc or parts.scheme or "local"
    path = (parts.path.lstrip("/") if parts.netloc else parts.path) or source
    return {"bucket": bucket[:255], "path": path, "format": "mlflow"}


def create_version(
    name: str,
    source: str,
    *,
    run_id: str = "",
    run_link: str = "",
    tags: dict[str, str] | None = None,
    description: str = "",
    user=None,
) -> ModelVersion:
    """Register a version from MLflow's create request (the semver: ``models_app.mlflow_api``)."""
    if not source:
        raise InvalidParameter("Missing value for required parameter 'source'.", path="source")
    model = Model.get_alive(name)
    tags = dict(tags or {})
    semver = tags.pop(SEMVER_TAG, None)
    mlflow = {key: value for key, value in (("source", source), ("run_id", run_id), ("run_link", run_link)) if value}
    document = {
        "name": name,
        "artifact": artifact_of(source),
        "runtime": {"type": "custom"},
        "description": description or "",
        "metadata": {MLFLOW_TAGS: tags} if tags else {},
        "mlflow": mlflow,
    }
    if semver:
        return register_version_of(Model, name, {**document, "version": semver}, user=user).version
    for _ in range(SEMVER_TRIES):
        major = (model.versions.aggregate(top=Max("major"))["top"] or 0) + 1
        try:
            registration = register_version_of(Model, name, {**document, "version": f"{major}.0.0"}, user=user)
        except Conflict as exc:
            if exc.code != "version_exists":
                raise
            continue
        if not registration.existing:
            return registration.version
    raise Conflict(f"{model} is being registered too often at once; retry.", code="busy")


def number_of(version: ModelVersion) -> ModelVersion:
    """``version`` read again with its MLflow number (the database sets it on insert) and what a document shows."""
    return ModelVersion.objects.select_related("model", "created_by").get(pk=version.pk)


def set_version_tag(version: ModelVersion, key: str, value: str) -> None:
    _check_tag_key(key)
    if key == SEMVER_TAG:
        raise InvalidParameter(f"The tag {SEMVER_TAG} shows the version's semver and cannot be set.", path="key")
    tags = {**version_tags(version), key: value}
    update_document(version, {"metadata": {**version.metadata, MLFLOW_TAGS: tags}})


def delete_version_tag(version: ModelVersion, key: str) -> None:
    tags = version_tags(version)
    if key not in tags:
        raise DefinitionNotFound(f"{version} has no tag {key!r}.", path="key")
    del tags[key]
    metadata = {**version.metadata, MLFLOW_TAGS: tags}
    if not tags:
        del metadata[MLFLOW_TAGS]
    update_document(version, {"metadata": metadata})


def check_model_tags(tags: dict[str, str], *, path: str = "tags") -> None:
    """Refuse (INVALID_PARAMETER_VALUE) a registered-model tag that is not a label: they are the registry's
    labels, so ``?label=key:value`` finds what an MLflow client tagged, and labels set through ``/api/v1`` are its
    tags."""
    for key, value in tags.items():
        issues = check_labels({key: value})
        if issues:
            raise InvalidParameter(
                f"Registered-model tags are this registry's labels (key-value, both lowercase slugs, e.g. team=nlp); "
                f"the tag {key[:80]!r}={value[:80]!r} is not one: {issues[0].message} (Model-version tags take any "
                "text.)",
                path=path,
            )


def create_model(name: str, *, tags: dict[str, str], description: str = "", user=None) -> Model:
    """MLflow's create_registered_model: the definition with its labels, one change-log entry (a refused tag
    leaves no model behind)."""
    check_model_tags(tags)
    return create_definition(Model, name, user=user, description=description, labels=tags)


def set_model_tag(model: Model, key: str, value: str | None) -> None:
    """Set (or, with ``value`` None, delete) one of a registered model's MLflow tags: its labels. A tag stored
    before tags were labels that could not be one (``Model.mlflow_tags``, migration 0015) is still shown and may
    be deleted or replaced by a label."""
    _check_tag_key(key)
    if value is not None:
        check_model_tags({key: value}, path="key")
    with transaction.atomic():
        locked = Model.objects.select_for_update().get(pk=model.pk)
        legacy = dict(locked.mlflow_tags or {})
        labelled = key in (locked.labels or {})
        if value is None and not labelled and key not in legacy:
            raise DefinitionNotFound(f"{locked} has no tag {key!r}.", path="key")
        if key in legacy:  # stored before tags were labels: deleted, or replaced by a label
            before = legacy.pop(key)
            locked.mlflow_tags = legacy
            locked.save(update_fields=["mlflow_tags", "updated_at"])
            locked.record(f"{locked.kind}.updated", {"mlflow_tags": {key: [before, None]}})
            locked.announce_change()
            log_write("updated", locked)
        if value is not None or labelled:
            set_labels(locked, {key: value})


def _check_tag_key(key: str) -> None:
    if not key or len(key) > 250:
        raise InvalidParameter("A tag key is 1 to 250 characters.", path="key")


def transition_stage(version: ModelVersion, stage: str, *, archive_existing: bool = False) -> None:
    """MLflow's stages as this registry's moves: Production = activate, Staging = the ``staging`` alias,
    Archived = archive, None = deprecate a current version and drop a ``staging`` alias pointing at it.
    ``archive_existing`` archives the versions that were in the target stage before."""
    wanted = stage.strip().lower()
    model = version.model
    if wanted == "production":
        before = model.versions.filter(is_current=True, deleted_at__isnull=True).exclude(pk=version.pk).first()
        lifecycle.activate(version)
        if archive_existing and before is not None:
            lifecycle.archive(before)
    elif wanted == "staging":
        before = Alias.objects.filter(kind=Model.kind, definition_name=model.name, alias=STAGING_ALIAS).first()
        Alias.move(model, STAGING_ALIAS, version.version)
        if archive_existing and before is not None and before.version_id != version.pk:
            lifecycle.archive(ModelVersion.objects.get(pk=before.version_id))
    elif wanted == "archived":
        if STAGING_ALIAS in version_aliases(version):
            Alias.remove(model, STAGING_ALIAS)
        lifecycle.archive(version)
    elif wanted == "none":
        if version.status == Lifecycle.ARCHIVED:
            raise Conflict(f"{version} is archived; an archived version stays archived.", code="archived")
        if STAGING_ALIAS in version_aliases(version):
            Alias.remove(model, STAGING_ALIAS)
        if version.is_current:
            lifecycle.deprecate(version)
    else:
        raise InvalidParameter(
            f"Invalid stage {stage!r}: one of None, Staging, Production, Archived (any case).", path="stage"
        )
