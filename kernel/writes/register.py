"""Registering a version: ``register`` (creating the definition on its first version) and
``register_version_of`` (POST .../{name}/versions); ``create_definition`` creates a definition before its first
version (the MLflow-compatible API's ``create_registered_model``).

Every write that protects an invariant (one row per version, one latest, one current) locks the definition's row
first; the unique constraints stay as a backstop under concurrency and surface as a 409.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from kernel.documents.shape import (
    DEFINITION_FIELDS,
    DEFINITION_KEY,
    IDENTITY_FIELDS,
    LABELS_KEY,
    MUTABLE_VERSION_FIELDS,
    check_definition_block,
    check_labels,
    set_alias_names,
)
from kernel.exceptions import Conflict, DefinitionNotFound
from kernel.fastpaths import one_statement
from kernel.models import changelog
from kernel.models.definitions import Definition
from kernel.rules.check import check_document
from kernel.rules.latest import latest_rank
from kernel.rules.names import NAME_MESSAGE, is_name
from kernel.rules.semver import parse_version
from kernel.rules.validation import DocumentInvalid, Issue, differing_paths, pointer
from kernel.writes import Registration
from registry_project.logs import log_write


def register(definition_model: type[Definition], document: Any, *, user=None) -> Registration:
    """Register a version, creating the definition on its first version."""
    document, report = check_document(definition_model, document)
    if report.errors:
        raise DocumentInvalid(report.errors)
    done = one_statement.register(definition_model, document, report.warnings, user, create=True)
    if done is not None:
        return done
    with transaction.atomic():
        definition, created = _lock_or_create(definition_model, document["name"], user)
        registration = _add_version(definition, document, report.warnings, user, created=created)
        if not registration.existing:
            definition_model.announce_change()
    registration.created_definition = created
    return registration


def register_version(definition: Definition, document: Any, *, user=None) -> Registration:
    """Register a new version of this (existing) definition."""
    return register_version_of(type(definition), definition.name, document, user=user)


def register_version_of(definition_model: type[Definition], name: str, document: Any, *, user=None) -> Registration:
    """Register a new version of the live definition ``name`` (POST .../{name}/versions): the document is
    validated before any lock is taken, and the definition is then found and locked in one query."""
    if isinstance(document, dict):
        document = {"name": name, **document}
    document, report = check_document(definition_model, document)
    if isinstance(document, dict) and document["name"] != name:
        report.error("/name", "name_mismatch", f"The document names {document['name']!r} but the URL names '{name}'.")
    if report.errors:
        definition_model.get_alive(name)  # a missing definition is the 404 it always was, whatever the document
        raise DocumentInvalid(report.errors)
    done = one_statement.register(definition_model, document, report.warnings, user, create=False)
    if done is not None:
        return done
    with transaction.atomic():
        locked = definition_model.objects.select_for_update().filter(name=name, deleted_at__isnull=True).first()
        if locked is None:
            raise DefinitionNotFound(f"No {definition_model.kind} named '{name}'.", path="name")
        registration = _add_version(locked, document, report.warnings, user)
        if not registration.existing:
            definition_model.announce_change()
        return registration


def _lock_or_create(definition_model: type[Definition], name: str, owner) -> tuple[Definition, bool]:
    definition = definition_model.objects.select_for_update().filter(name=name).first()
    created = False
    if definition is None:
        # A concurrent first registration of the same name makes this insert wait for it and then fail on the
        # unique name; the savepoint keeps the caller's transaction, and the lock below finds the row it committed.
        try:
            with transaction.atomic():
                definition = definition_model.objects.create(name=name, owner=owner)
            created = True
        except IntegrityError:
            definition = definition_model.objects.select_for_update().get(name=name)
    if definition.deleted_at is not None:
        kind = definition_model.kind
        raise Conflict(
            f"The {kind} name '{name}' belongs to a deleted {kind}; an administrator can restore it.",
            code="deleted",
            path="/name",
        )
    return definition, created


def _version_taken(definition: Definition, text: str, differences: list[str] | None = None) -> Conflict:
    """409 for a taken number; ``differences``: the JSON Pointers where the document's spec differs from it."""
    if not differences:
        return Conflict(
            f"{definition} already has version {text}; a registered spec is immutable, so register a new "
            "version number instead.",
            code="version_exists",
            path="/version",
        )
    return Conflict(
        f"{definition} already has version {text} with another spec (different at {', '.join(differences)}); a "
        "registered spec is immutable, so register a new version number instead.",
        code="version_exists",
        path="/version",
        details={"fields": differences},
    )


def _not_applied(existing, document: dict) -> list[str]:
    """The JSON Pointers of what a retry (``document``, the same spec as ``existing``) carries that differs from
    what is stored and so was not applied: the mutable fields, the definition-wide ones, the ``definition`` block's
    keys, the version's build metadata. Fields the document leaves out are not named."""
    stored = existing.document()
    names = (*IDENTITY_FIELDS, *MUTABLE_VERSION_FIELDS, *existing.definition.parent_fields)
    sent = {name: document[name] for name in names if name in document}
    was = {name: stored.get(name) for name in sent}
    block = document.get(DEFINITION_KEY)
    if isinstance(block, dict):
        sent[DEFINITION_KEY] = block
        was[DEFINITION_KEY] = {name: stored[DEFINITION_KEY].get(name) for name in block}
    return differing_paths(was, sent)


def _add_version(
    definition: Definition, document: dict, warnings: list[Issue], user, *, created: bool = False
) -> Registration:
    """Create the version row and its change-log entry. The caller holds the lock on the definition's row."""
    parsed = parse_version(document["version"])
    version_model = definition.versions.model
    # The version being registered (if it exists: a retry or a conflict) and the one "latest" points at, in one
    # query. Read in its own statement after the lock is held: a join in the locking SELECT would see the
    # pointed-at row as of the statement's snapshot, which misses a version a concurrent registration
    # committed while we waited.
    # A definition this transaction has just inserted has no versions (no other transaction can reference a row
    # it cannot see yet): its first registration skips the read.
    identity = parsed.identity()
    known = (
        []
        if created
        else list(definition.versions.filter(Q(**identity) | Q(pk=definition.latest_version_id)).order_by())
    )
    existing = next((v for v in known if (v.major, v.minor, v.patch, v.prerelease) == tuple(identity.values())), None)
    if existing is not None and existing.deleted_at is not None:
        raise Conflict(
            f"{definition} had version {parsed.text}; it was deleted, and a version number is never reused.",
            code="version_exists",
            path="/version",
        )
    if existing is not None:
        # One rule for every kind: the same spec is a retry (answered with the stored version, nothing written),
        # another spec under a taken number a 409 naming where it differs.
        omitted: list[str] = []
        differences = existing.registration_differences(document, omitted)
        if differences:
            raise _version_taken(definition, parsed.text, differences)
        ignored = _not_applied(existing, document)
        note = f"{existing} was registered before with the same spec; this is that version"
        if omitted:
            note = (
                f"{existing} was registered before with a spec that agrees with everything this document states "
                f"and also has {', '.join(omitted)}; this is that version"
            )
        if ignored:
            note += f" (these fields differ and were not applied: {', '.join(ignored)}; an update changes them)"
        return Registration(
            version=existing, warnings=[Issue("/version", "already_registered", note + ".")], existing=True
        )
    warnings = list(warnings)
    # The latest pointer is the highest live release when one exists (kernel.rules.latest).
    latest = next((v for v in known if v.pk == definition.latest_version_id), None)
    if latest is not None and not latest.prerelease and parsed.sort_tuple() < latest.parsed.sort_tuple():
        warnings.append(
            Issue(
                "/version",
                "lower_than_latest",
                f"{parsed.text} is lower than the latest release {latest.version}; registered as a hotfix.",
            )
        )
    before = _definition_state(definition)
    warnings.extend(_apply_parent_fields(definition, document))
    block = document.get(DEFINITION_KEY) or {}
    tags_before = definition.tags
    for name in DEFINITION_FIELDS:
        if name in block:
            setattr(definition, name, block[name])
    if definition.tags != tags_before and definition.latest_version_id is not None:
        definition.refresh_effective_tags()  # the versions registered before; the new one computes its own
    spec, mutable = version_model.split_document(document)
    version = version_model(
        **{version_model.parent_field: definition},
        **parsed.as_fields(),
        spec=spec,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        **mutable,
    )
    version.is_latest = latest is None or latest_rank(version) > latest_rank(latest)
    if version.is_latest and latest is not None:
        definition.flag_latest(None)  # before the insert: the one-latest constraint is checked row by row
    try:
        # No savepoint and no "exists?" query first: under this row's lock the unique constraint is the
        # check, and a violation rolls back the caller's whole transaction, which is what a rejected
        # registration must do anyway.
        with transaction.atomic(savepoint=False):
            version.save(force_insert=True)
    except IntegrityError:
        raise _version_taken(definition, parsed.text) from None
    set_alias_names(version, [])  # no alias can name a version before it exists: its document needs no alias query
    version.on_registered(document)
    if version.is_latest:
        definition.latest_version = version
    definition.save(update_fields=["updated_at", "latest_version", *definition.parent_fields, *DEFINITION_FIELDS])
    changes = {"spec_sha256": changelog.spec_checksum(spec), **changelog.diff(before, _definition_state(definition))}
    if created:
        changes["created"] = True
    version.record(f"{definition.kind}.version_registered", changes)
    log_write("registered", definition, version.version)
    return Registration(version=version, warnings=warnings)


def _definition_state(definition: Definition) -> dict:
    """What a registration may change on the definition, as the change log records it: the definition-wide
    fields and the ``definition`` block (its tags and description)."""
    state = {name: getattr(definition, name) for name in definition.parent_fields}
    state[DEFINITION_KEY] = {name: getattr(definition, name) for name in DEFINITION_FIELDS}
    return state


def _apply_parent_fields(definition: Definition, document: dict) -> list[Issue]:
    """Definition-wide fields follow the newest registration that gives them; a change is reported."""
    warnings = []
    before = [getattr(definition, name) for name in definition.parent_fields]
    for name in definition.parent_fields:
        if name not in document:
            continue
        old, new = getattr(definition, name), document[name]
        if old not in (None, "") and old != new:
            message = f"{name} of {definition} changed from {old!r} to {new!r}."
            warnings.append(Issue(pointer(name), "definition_field_changed", message))
        definition.set_document_field(name, new)
    if definition.latest_version_id is not None and before != [
        getattr(definition, name) for name in definition.parent_fields
    ]:
        definition.refresh_search_fields()  # a definition without versions yet has nothing to refresh
    return warnings


def create_definition(
    definition_model: type[Definition],
    name: str,
    *,
    user=None,
    tags: list | None = None,
    description: str = "",
    labels: dict[str, str] | None = None,
) -> Definition:
    """Create a definition that has no version yet (MLflow's ``create_registered_model``; the registry's own API
    creates a definition with its first version), with its labels if any. Refused with 409 ``definition_exists``
    when the name is taken, deleted or not; one ``<kind>.created`` change-log entry."""
    errors = check_definition_block({"tags": tags or [], "description": description})
    if labels:
        errors.extend(check_labels(labels))
    if not is_name(name):
        errors.insert(0, Issue("/name", "invalid_name", NAME_MESSAGE))
    if errors:
        raise DocumentInvalid(errors)
    with transaction.atomic():
        if definition_model.objects.filter(name=name).exists():
            raise _definition_exists(definition_model, name)
        try:
            with transaction.atomic():
                definition = definition_model.objects.create(
                    name=name,
                    owner=user if getattr(user, "is_authenticated", False) else None,
                    tags=list(tags or []),
                    description=description,
                    labels=dict(labels) if labels else None,
                )
        except IntegrityError:
            raise _definition_exists(definition_model, name) from None
        changes: dict[str, Any] = {
            "created": True,
            DEFINITION_KEY: {"tags": definition.tags, "description": definition.description},
        }
        if labels:
            changes[LABELS_KEY] = [None, definition.labels]
        definition.record(f"{definition.kind}.created", changes)
        definition.announce_change()
        log_write("created", definition)
    return definition


def _definition_exists(definition_model: type[Definition], name: str) -> Conflict:
    return Conflict(f"A {definition_model.kind} named '{name}' exists already.", code="definition_exists", path="/name")
