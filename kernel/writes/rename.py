"""Renaming a definition (MLflow's ``rename_registered_model``; ``POST /api/v1/{kind}/{name}/rename``).

A name is how everything outside the registry finds a definition, and several things inside key by it: the
aliases (``Alias.definition_name``), the change log (``kind``, ``name``), the versions' stored search text and the
webhooks' per-object order. One transaction under the definition's row lock moves what keys by name today:

- the aliases follow (same targets, no move in their history);
- the change log keeps every entry as written, under the name of its moment (it is append-only); the rename is
  an entry ``<kind>.renamed`` with ``{"name": [before, after]}`` under the new name, so it is a webhook event,
  and ``ChangeLogQuerySet.of_definition`` reads a definition's history, alias history and point-in-time answers
  across its names;
- what holds ids follows by itself: versions, bindings, lineage links (rendered with today's name);
- what names it by text cannot follow, so the rename is refused (409 ``in_use``, saying what and where) while it
  exists (``kernel.rules.dependencies.ensure_not_named``): a pipeline step's ``"model": "name@1.2.0"`` (an
  immutable spec) in a present version of a live pipeline (``pipelines_app.guards``); a model's stored artifact
  files, whose storage keys start with its name (a backup's import checks that prefix), and its signed
  attestations, whose statements name it (``models_app.guards``).

The old name is free afterwards (MLflow's behaviour): a definition registered under it later starts its own
history. The new name must be free of live and deleted definitions alike (a deleted one keeps its name for a
restore).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from kernel.exceptions import Conflict, DefinitionNotFound
from kernel.models.aliases import Alias
from kernel.models.definitions import Definition
from kernel.rules.dependencies import ensure_not_named
from kernel.rules.names import NAME_MESSAGE, is_name
from kernel.rules.validation import DocumentInvalid, Issue
from registry_project.logs import log_write


def rename(definition: Definition, new_name: str, *, path: str = "/name") -> Definition:
    """Give ``definition`` the name ``new_name``; answers it renamed. Renaming to its own name changes nothing.
    ``path`` is where the caller's request carried the new name (for the error's JSON Pointer)."""
    if not is_name(new_name):
        raise DocumentInvalid([Issue(path, "invalid_name", f"{NAME_MESSAGE} Got {str(new_name)[:140]!r}.")])
    definition_model = type(definition)
    with transaction.atomic():
        locked = definition_model.objects.select_for_update().filter(pk=definition.pk).first()
        if locked is None or locked.deleted_at is not None:
            raise DefinitionNotFound(f"No {definition_model.kind} named '{definition.name}'.", path="name")
        old_name = locked.name
        if new_name == old_name:
            return locked
        taken = list(definition_model.objects.filter(name=new_name).values_list("deleted_at", flat=True))
        if taken:
            raise _name_taken(definition_model, new_name, deleted=taken[0] is not None, path=path)
        ensure_not_named(locked)
        locked.name = new_name
        try:
            with transaction.atomic():
                locked.save(update_fields=["name", "updated_at"])
        except IntegrityError:  # taken meanwhile by a registration the unique index saw first
            raise _name_taken(definition_model, new_name, deleted=False, path=path) from None
        Alias.objects.filter(kind=locked.kind, definition_name=old_name).update(definition_name=new_name)
        locked.refresh_search_fields()  # a version's stored search text starts with its definition's name
        locked.record(f"{locked.kind}.renamed", {"name": [old_name, new_name]})
        locked.announce_change()
        log_write("renamed", locked)
    definition.name = new_name
    return locked


def _name_taken(definition_model: type[Definition], name: str, *, deleted: bool, path: str) -> Conflict:
    why = " by a deleted one (restore it, or pick another name)" if deleted else ""
    return Conflict(
        f"The name '{name}' is taken{why}: a {definition_model.kind} named '{name}' exists already.",
        code="definition_exists",
        path=path,
    )
