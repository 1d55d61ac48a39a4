"""Lifecycle moves of a version: ``activate`` (make it the definition's current version), ``deprecate``,
``archive``. Each locks the definition's row, serialising every move of its versions, and records one change-log
entry saying which version was current before and after, so point-in-time answers need only the log."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from kernel.choices import Lifecycle
from kernel.exceptions import Conflict
from kernel.fastpaths import one_statement
from kernel.models import changelog
from kernel.models.aliases import Alias
from kernel.models.definitions import DefinitionVersion
from kernel.rules.dependencies import ensure_unused
from kernel.rules.latest import latest_order
from registry_project.logs import log_write

MOVES = ("activate", "deprecate", "archive")


def activate(version: DefinitionVersion) -> DefinitionVersion:
    """Make this the definition's current version (clearing the previous one)."""
    done = one_statement.activate(version)
    if done is not None:
        return done
    with transaction.atomic():
        version = locked(version)
        check_move(version, "activate")
        # Re-read under the lock, is_current is settled: a version already current is the only one (the
        # one-current constraint), so there is nothing to clear.
        previous = version.version if version.is_current else _clear_current(version)
        _set_lifecycle(version, "activated", Lifecycle.ACTIVE, is_current=True, previous_current=previous)
    return version


def deprecate(version: DefinitionVersion) -> DefinitionVersion:
    with transaction.atomic():
        version = locked(version)
        check_move(version, "deprecate")
        _set_lifecycle(version, "deprecated", Lifecycle.DEPRECATED, is_current=False)
    return version


def archive(version: DefinitionVersion) -> DefinitionVersion:
    with transaction.atomic():
        version = locked(version)
        if version.status != Lifecycle.ARCHIVED:
            check_move(version, "archive")
            _set_lifecycle(version, "archived", Lifecycle.ARCHIVED, is_current=False)
        version.on_archived()
    return version


def check_move(version: DefinitionVersion, action: str) -> None:
    """Raise the ``Conflict`` that refuses ``action`` on ``version`` as it stands, if any: the rules every move
    applies under the definition's lock, and that the admin's version page asks (without the lock) to disable a
    move's button with its reason."""
    if action in ("activate", "deprecate") and version.status == Lifecycle.ARCHIVED:
        then = "archived versions cannot be activated" if action == "activate" else "it cannot move back to deprecated"
        raise Conflict(f"{version} is archived; {then}.", code="archived")
    if action == "archive" and version.status != Lifecycle.ARCHIVED:
        Alias.ensure_unaliased(version)
        ensure_unused(version, "archive")


def refusal(version: DefinitionVersion, action: str) -> Conflict | None:
    """The ``Conflict`` ``check_move`` would raise for ``action`` now, or None when the move would be made."""
    try:
        check_move(version, action)
    except Conflict as exc:
        return exc
    return None


def move(version: DefinitionVersion, action: str) -> DefinitionVersion:
    """One of ``MOVES`` by name (the API's and the admin's lifecycle actions)."""
    if action not in MOVES:
        raise ValueError(action)
    return {"activate": activate, "deprecate": deprecate, "archive": archive}[action](version)


def locked(version: DefinitionVersion) -> DefinitionVersion:
    """Lock the definition row (serialising all lifecycle moves of its versions) and re-read this version."""
    definition_model = type(version.definition)
    definition = definition_model.objects.select_for_update().get(pk=version.definition.pk)
    # With its aliases: the lifecycle moves answer with the version's document.
    fresh = type(version).objects.with_aliases().get(pk=version.pk)
    setattr(fresh, version.parent_field, definition)
    return fresh


def _point_definition(version: DefinitionVersion, *, latest_may_move: bool = False) -> None:
    """Store the definition's pointers after a lifecycle move of this version (the caller holds the lock)."""
    definition = version.definition
    before = (definition.latest_version_id, definition.current_version_id)
    if version.is_current:
        definition.current_version_id = version.pk
    elif definition.current_version_id == version.pk:
        definition.current_version_id = None
    if latest_may_move:
        present = definition.versions.present().order_by(*latest_order())
        definition.latest_version_id = present.values_list("pk", flat=True).first()
    if (definition.latest_version_id, definition.current_version_id) == before:
        return
    type(definition).objects.filter(pk=definition.pk).update(
        latest_version=definition.latest_version_id, current_version=definition.current_version_id
    )
    if definition.latest_version_id != before[0]:
        definition.flag_latest(definition.latest_version_id)
        version.is_latest = definition.latest_version_id == version.pk


def _clear_current(version: DefinitionVersion) -> str | None:
    """Clear the definition's current version and return its number (None when there was none), in one
    statement (UPDATE ... RETURNING, on PostgreSQL and SQLite alike) rather than a read and then an update; the
    caller holds the definition's lock."""
    meta = type(version)._meta
    quote = connection.ops.quote_name
    is_current, updated_at = meta.get_field("is_current"), meta.get_field("updated_at")
    parent = meta.get_field(version.parent_field)
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {quote(is_current.column)} = %s, {quote(updated_at.column)} = %s"
        f" WHERE {quote(parent.column)} = %s AND {quote(is_current.column)}"
        f" RETURNING {quote(meta.get_field('version').column)}"
    )
    params = [
        is_current.get_db_prep_save(False, connection),
        updated_at.get_db_prep_save(timezone.now(), connection),
        parent.get_db_prep_save(getattr(version, parent.attname), connection),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cleared = cursor.fetchall()
    return cleared[0][0] if cleared else None


def _set_lifecycle(
    version: DefinitionVersion, verb: str, status: str, *, is_current: bool, previous_current: str | None = None
) -> None:
    """Save a lifecycle move with its change-log entry; the caller holds the definition's lock. ``current``
    records which version was current before and after, so point-in-time answers need only the log."""
    changes = changelog.diff(
        {"status": version.status, "is_current": version.is_current}, {"status": status, "is_current": is_current}
    )
    if is_current:
        if previous_current != version.version:
            changes["current"] = [previous_current, version.version]
    elif version.is_current:
        changes["current"] = [version.version, None]
    version.status, version.is_current = status, is_current
    version.save(update_fields=["status", "is_current", "updated_at"])
    # Archiving may retire the version "latest" pointed at; the other moves only touch "current".
    _point_definition(version, latest_may_move=status == Lifecycle.ARCHIVED)
    version.record(f"{version.definition.kind}.version_{verb}", changes)
    version.definition.announce_change()
    log_write(f"version_{verb}", version.definition, version.version)
