"""Soft deletion and restore. Nothing is removed: a deleted definition or version leaves every answer, its row
stays, and a deleted version's number is never reused. Refused (409) while something depends on it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from kernel.exceptions import Conflict, DefinitionNotFound
from kernel.models.definitions import Definition, DefinitionVersion
from kernel.rules.dependencies import ensure_unused
from kernel.writes.lifecycle import locked
from registry_project.logs import log_write


def soft_delete(target: Definition | DefinitionVersion) -> None:
    """Delete a definition, or one version of it."""
    if isinstance(target, DefinitionVersion):
        _delete_version(target)
        return
    with transaction.atomic():
        definition = type(target).objects.select_for_update().get(pk=target.pk)
        if definition.deleted_at is not None:
            return
        ensure_unused(definition, "delete")
        definition.deleted_at = timezone.now()
        definition.save(update_fields=["deleted_at", "updated_at"])
        definition.record(f"{definition.kind}.deleted", {"deleted": [False, True]})
        definition.announce_change()
        log_write("deleted", definition)
    target.deleted_at = definition.deleted_at


def _delete_version(target: DefinitionVersion) -> None:
    """Take this version out of every answer. Refused while it is the current version or something depends on
    it, as deleting a definition is."""
    with transaction.atomic():
        version = locked(target)
        if version.deleted_at is not None:
            return
        if version.is_current:
            raise Conflict(
                f"{version} is the current version; activate another one (or deprecate this one) first.",
                code="is_current",
            )
        ensure_unused(version, "delete")
        version.deleted_at = timezone.now()
        version.save(update_fields=["deleted_at", "updated_at"])
        version.definition.repoint()  # a deleted version is never "latest"
        version.record(f"{version.definition.kind}.version_deleted", {"deleted": [False, True]})
        version.definition.announce_change()
    target.deleted_at = version.deleted_at


def restore(target: Definition) -> None:
    with transaction.atomic():
        definition = type(target).objects.select_for_update().get(pk=target.pk)
        if definition.deleted_at is not None:
            definition.deleted_at = None
            definition.save(update_fields=["deleted_at", "updated_at"])
            definition.record(f"{definition.kind}.restored", {"deleted": [True, False]})
            definition.announce_change()
            log_write("restored", target)
    target.deleted_at = None


def restore_named(definition_model: type[Definition], name: str) -> Definition:
    """Restore the soft-deleted definition ``name`` (a live one is left as it is)."""
    definition = definition_model.objects.filter(name=name).first()
    if definition is None:
        raise DefinitionNotFound(f"No {definition_model.kind} named '{name}', deleted or not.", path="name")
    if definition.deleted_at is not None:
        restore(definition)  # records its change-log entry
    return definition
