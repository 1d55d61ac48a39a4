"""Updating a version's mutable fields (PUT and PATCH): description, tags, metadata, the definition-wide fields,
the ``definition`` block and the kind's operational spec fields (``DefinitionVersion.operational_fields``: a
model's ``eval_score`` and ``cost_per_1k_tokens``). The rest of the spec stays as registered: changing it is a
409 naming the fields.

PUT and PATCH are one update: each changes the fields it carries and leaves every field it leaves out as it is
(a field is cleared by sending its empty value, ``null`` for a definition-wide one). A PUT of a whole document as
GET returned it therefore changes what was edited in it, and a PUT that carries only a description changes only
the description: the definition-wide fields are shared by every version, and a document sent back without a spec
field never meant deleting it either, so an omission is never read as "empty it". A field carried is replaced as
a whole (``metadata``, ``tags``), except the ``definition`` block, whose ``tags`` and ``description`` are set
separately."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from kernel.documents.shape import (
    DEFINITION_FIELDS,
    DEFINITION_KEY,
    IDENTITY_FIELDS,
    LABELS_KEY,
    MUTABLE_VERSION_FIELDS,
    READ_ONLY_FIELDS,
    check_definition_block,
    check_labels,
    effective_tags_of,
    ignore_read_only,
    lifecycle_state,
)
from kernel.exceptions import Conflict
from kernel.models import changelog
from kernel.models.definitions import Definition, DefinitionVersion
from kernel.rules.check import check_document
from kernel.rules.validation import DocumentInvalid, Issue, differing_paths, pointer, same_json
from kernel.writes import Registration
from registry_project.logs import log_write


def update_document(version: DefinitionVersion, changes: Any) -> Registration:
    """Apply a PUT or PATCH of the mutable fields (see the module docstring); the spec stays as registered.
    Returns the updated version with warnings (server-managed fields that were sent and ignored)."""
    definition_model = type(version.definition)
    changes, warnings = ignore_read_only(changes) if not _changes_lifecycle(version, changes) else (changes, [])
    with transaction.atomic():
        definition = definition_model.objects.select_for_update().get(pk=version.definition.pk)
        version = type(version).objects.get(pk=version.pk)
        setattr(version, version.parent_field, definition)
        proposed = proposed_document(version, changes)
        before = version.document()
        for name in MUTABLE_VERSION_FIELDS:
            setattr(version, name, proposed[name])
        spec_before = version.spec
        version.spec = _with_operational(version, proposed)
        version.save(
            update_fields=[*MUTABLE_VERSION_FIELDS, *(["spec"] if version.spec != spec_before else []), "updated_at"]
        )
        parent_before = [getattr(definition, name) for name in definition.parent_fields]
        tags_before = definition.tags
        for name in definition.parent_fields:
            definition.set_document_field(name, proposed.get(name))
        for name in DEFINITION_FIELDS:
            setattr(definition, name, proposed[DEFINITION_KEY][name])
        definition.save(update_fields=[*definition.parent_fields, *DEFINITION_FIELDS, "updated_at"])
        if parent_before != [getattr(definition, name) for name in definition.parent_fields]:
            definition.refresh_search_fields()
        if definition.tags != tags_before:
            definition.refresh_effective_tags()
            version.effective_tags = effective_tags_of(version.tags, definition.tags)
        version.record(f"{definition.kind}.version_updated", changelog.diff(before, version.document()))
        definition.announce_change()
        log_write("version_updated", definition, version.version)
    return Registration(version=version, warnings=warnings)


def _changes_lifecycle(version: DefinitionVersion, changes: Any) -> bool:
    """Whether ``changes`` asks for a different status: that is meant, so it is refused, not ignored."""
    if not isinstance(changes, dict):
        return False
    return any(name in changes and changes[name] != value for name, value in lifecycle_state(version).items())


def proposed_document(version: DefinitionVersion, changes: Any) -> dict:
    """The document ``version`` would have after ``changes`` (the fields they carry; the others as they are);
    raises if a change touches the spec (Conflict) or makes the document invalid (DocumentInvalid). Saves
    nothing."""
    if not isinstance(changes, dict):
        raise DocumentInvalid([Issue("", "invalid_type", "Expected a JSON object.")])
    definition = version.definition
    current = version.document()
    _check_immutable(version, current, changes)
    proposed = dict(current)
    for name in (*MUTABLE_VERSION_FIELDS, *definition.parent_fields, *version.operational_fields):
        if name in changes:
            proposed[name] = changes[name]
    for name in (*definition.parent_fields, *version.operational_fields):
        if proposed.get(name) in (None, ""):
            proposed.pop(name, None)  # unset: leave it out rather than validate an empty value
    block = changes.get(DEFINITION_KEY, {})
    errors = check_definition_block(block)
    if not errors:
        # PATCH {"definition": {"tags": [...]}} changes the definition's tags and keeps its description.
        proposed[DEFINITION_KEY] = {**current[DEFINITION_KEY], **block}
    _, report = check_document(type(definition), proposed)
    if errors or report.errors:
        raise DocumentInvalid([*report.errors, *errors])
    return proposed


def _with_operational(version: DefinitionVersion, proposed: dict) -> dict:
    """The version's spec with its operational fields as ``proposed`` has them (left out when unset)."""
    operational = version.operational_fields
    spec = {
        k: proposed[k] if k in operational else v
        for k, v in version.spec.items()
        if k not in operational or k in proposed
    }
    spec.update({k: proposed[k] for k in operational if k in proposed and k not in spec})  # set after registration
    return spec


def _check_immutable(version: DefinitionVersion, current: dict, changes: dict) -> None:
    definition = version.definition
    errors = []
    mutable = {*MUTABLE_VERSION_FIELDS, *definition.parent_fields, *version.operational_fields, DEFINITION_KEY}
    changed_spec = []
    for key, value in changes.items():
        if key in mutable:
            continue
        if key == "name" and value != current["name"]:
            errors.append(
                Issue("/name", "read_only", 'An update does not rename: POST {"name": "<new name>"} to .../rename.')
            )
        elif key == "version" and value != current["version"]:
            changed_spec.append("/version")
        elif key in READ_ONLY_FIELDS:
            lifecycle = lifecycle_state(version)
            if key in lifecycle and value != lifecycle[key]:
                message = f"{key} changes through the lifecycle actions (activate, deprecate, archive)."
                errors.append(Issue(pointer(key), "read_only", message))
        elif key in definition.validator.top_level_fields and key not in IDENTITY_FIELDS:
            if not same_json(current.get(key), value):
                changed_spec.extend(differing_paths(current.get(key), value, at=pointer(key)))
        elif key not in IDENTITY_FIELDS:
            errors.append(Issue(pointer(key), "unknown_field", f"Unknown field: {key}."))
    if errors:
        raise DocumentInvalid(errors)
    if changed_spec:
        raise Conflict(
            f"The spec of {version} is immutable (changed at {', '.join(changed_spec)}); register a new version "
            "with the change instead.",
            code="spec_immutable",
            details={"fields": changed_spec},
        )


def update_definition(definition: Definition, block: Any) -> Definition:
    """Set the definition's own ``tags`` and/or ``description`` (the keys ``block`` carries), whether or not it has
    a version yet: the ``definition`` block of an update, for a definition as a whole (MLflow's
    ``update_registered_model``). One ``<kind>.updated`` change-log entry when something changed."""
    errors = check_definition_block(block)
    if errors:
        raise DocumentInvalid(errors)
    with transaction.atomic():
        locked = type(definition).objects.select_for_update().get(pk=definition.pk)
        before = {name: getattr(locked, name) for name in DEFINITION_FIELDS}
        for name in DEFINITION_FIELDS:
            if name in block:
                setattr(locked, name, block[name])
        after = {name: getattr(locked, name) for name in DEFINITION_FIELDS}
        if after != before:
            locked.save(update_fields=[*DEFINITION_FIELDS, "updated_at"])
            if locked.tags != before["tags"]:
                locked.refresh_effective_tags()
            locked.record(f"{locked.kind}.updated", {DEFINITION_KEY: changelog.diff(before, after)})
            locked.announce_change()
            log_write("updated", locked)
    return locked


def set_labels(definition: Definition, changes: dict[str, str | None]) -> Definition:
    """Set (a text) or remove (None) some of a definition's key-value labels, whether or not it has a version yet
    (MLflow's registered-model tags are the labels: ``models_app.mlflow_api``). The labels it ends with are checked
    as a document's are (``/labels/<key>`` paths); one ``<kind>.updated`` entry when something changed."""
    with transaction.atomic():
        locked = type(definition).objects.select_for_update().get(pk=definition.pk)
        before = dict(locked.labels or {})
        after = {key: value for key, value in {**before, **changes}.items() if value is not None}
        errors = check_labels(after)
        if errors:
            raise DocumentInvalid(errors)
        if after != before:
            locked.labels = after or None
            locked.save(update_fields=[LABELS_KEY, "updated_at"])
            locked.record(f"{locked.kind}.updated", {LABELS_KEY: [before or None, after or None]})
            locked.announce_change()
            log_write("updated", locked)
    definition.labels = locked.labels
    return locked
