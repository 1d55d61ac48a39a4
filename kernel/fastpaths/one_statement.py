"""Registration and activation in one statement (PostgreSQL).

The ORM path costs a registration (``kernel.writes.register``) about ten round trips: BEGIN, the row lock, the read
of the version and the latest, the flag, the insert, the definition's update, the change log, COMMIT; an activation
as many. Here the common case is one statement: a PL/pgSQL function per kind and write
(``kernel.migration_operations``, named in ``Definition.write_functions``) takes the same lock, checks
the same things and writes the same rows under the same constraints, and the statement around it appends the
change-log entry and runs the listeners' set forms (the webhook outbox) over it.

Registration: everything that does not depend on the database is computed here first, exactly as the ORM path
computes it: the version row (spec, search text, timestamps), the definition row a first registration creates,
the change-log entry. The function decides what does: whether the definition exists, whether the number is free,
whether the new version is the latest, the effective tags. Every case it does not handle (a definition-wide field
that changes, a deleted definition, a number already taken: a retry or a 409) it hands back having written
nothing, and the ORM path answers it, so those answers (and their wording) have one source. Documents the function
never sees: a ``definition`` block, one whose kind has registration work of its own
(``registers_in_one_statement``). A document that leaves out a definition-wide field the search text includes (a
model's family) has that part of the text filled in from the stored definition (``_search_parts``).

Activation: the function locks the definition, re-reads the version, clears the previous current version, makes
this one current, moves the pointer and says what the entry records; an archived version goes back to the ORM path
for its 409. Deprecate, archive, updates and deletes keep the ORM path, as does every write of a kind with
transactional side effects of its own (policies: ``changing``).
"""

from __future__ import annotations

import datetime
import json
import uuid
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from django.db import DataError, IntegrityError, connection, transaction

from kernel.documents.shape import DEFINITION_KEY, effective_tags_of, set_alias_names
from kernel.models import changelog
from kernel.rules.semver import ParsedVersion, parse_version
from kernel.rules.validation import Issue
from kernel.writes import Registration
from registry_project.logs import log_write
from registry_project.private_apis.for_django import mark_saved

if TYPE_CHECKING:
    from kernel.models.definitions import Definition, DefinitionVersion

FALLBACK = "fallback"


def in_one_statement(definition_model: type[Definition], document: dict) -> bool:
    """Whether this registration can be tried in one statement (see the module docstring)."""
    if DEFINITION_KEY in document or not _has_function(definition_model, "register"):
        return False
    return definition_model.versions.rel.related_model.registers_in_one_statement(document)


# The ORM path's methods each function stands in for. A kind that overrides one of them does more than the function
# knows (policies: ``changing`` bumps the compiled-rules generation), so its writes keep the ORM path.
_STANDS_IN_FOR = {
    "register": {
        "definition": ("changing", "save", "record"),
        "version": ("record",),  # on_registered and save have their own guards (DefinitionVersion.__init_subclass__)
    },
    "activate": {
        "definition": ("changing", "save", "record"),
        "version": ("record",),  # a version's save has its own guard (derive_from_spec), as for registration
    },
}


def _has_function(definition_model: type[Definition], write: str) -> bool:
    """Whether this is PostgreSQL and ``definition_model`` has a function for ``write`` (``Definition.
    write_functions``) that does all its ORM path would (``_STANDS_IN_FOR``)."""
    from kernel.models.definitions import Definition, DefinitionVersion

    if connection.vendor != "postgresql" or write not in (definition_model.write_functions or {}):
        return False
    version_model = definition_model.versions.rel.related_model
    for (model, base), names in zip(
        ((definition_model, Definition), (version_model, DefinitionVersion)), _STANDS_IN_FOR[write].values()
    ):
        overriding = model.__mro__[: model.__mro__.index(base)]
        if any(name in vars(klass) for klass in overriding for name in names):
            return False
    return True


def _search_parts(version, document: dict) -> list | None:
    """``search_document``'s parts for the function when the document leaves out a definition-wide field the
    search text includes (``model__family``): the parts in order, lowercased, with ``{"parent": field}`` for those
    the function fills in from the stored definition. None when the document gives them all."""
    prefix = f"{version.parent_field}__"
    values = version.search_values()
    if all(path[len(prefix) :] in document for path, _ in values if path.startswith(prefix)):
        return None
    parts: list = [version.definition.name.lower()]
    for path, text in values:
        if path.startswith(prefix) and path[len(prefix) :] not in document:
            parts.append({"parent": path[len(prefix) :]})
        else:
            parts.append(text.lower())
    return parts


def register(
    definition_model: type[Definition], document: dict, warnings: list[Issue], user, *, create: bool
) -> Registration | None:
    """``kernel.writes.register`` in one statement: the registration, or None ("not mine") when this is not
    PostgreSQL, the kind has no function, the document has work the function does not do (see the module
    docstring), or the function handed it back having written nothing, for the ORM path to answer.
    ``create``: a first registration may create the definition."""
    if not in_one_statement(definition_model, document):
        return None
    version_model = definition_model.versions.rel.related_model
    version_model = definition_model.versions.rel.related_model
    parsed = parse_version(document["version"])
    definition = definition_model(
        name=document["name"], owner=user if getattr(user, "is_authenticated", False) else None
    )
    given = [name for name in definition_model.parent_fields if name in document]
    before = {name: getattr(definition, name) for name in definition_model.parent_fields}
    for name in given:
        definition.set_document_field(name, document[name])
    spec, mutable = version_model.split_document(document)
    version = version_model(
        **{version_model.parent_field: definition},
        **parsed.as_fields(),
        spec=spec,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        **mutable,
    )
    version.search_text = version.search_document()
    search_parts = _search_parts(version, document)
    version.derive_from_spec()
    parent = {name: _json_value(getattr(definition, name)) for name in given}
    entry_changes = {"spec_sha256": changelog.spec_checksum(spec)}
    created_changes = {
        **entry_changes,
        **changelog.diff(before, {name: getattr(definition, name) for name in definition_model.parent_fields}),
        "created": True,
    }
    sql, item_params = _write_statement(
        definition_model,
        "register",
        "%s, %s, %s::jsonb, %s::jsonb, %s::jsonb, %s::jsonb",
        action="version_registered",
        entry="SELECT %s AS name, %s AS version, %s AS object_id, CASE WHEN r_created THEN %s::jsonb ELSE %s::jsonb END AS changes",
        columns="r_created, r_definition, r_latest, r_is_latest",
    )
    params = [
        definition.name,
        create,
        _row_json(definition) if create else None,
        json.dumps(parent),
        _row_json(version),
        None if search_parts is None else json.dumps(search_parts),
        *item_params,
        definition.name,
        version.version,
        str(version.pk),
        json.dumps(created_changes),
        json.dumps(entry_changes),
    ]
    found = _execute(sql, params)
    if found is None:
        return None
    created, stored, latest, is_latest, at, entry_id = found
    _load(definition, _decoded(stored))
    version.created_at = version.updated_at = at
    if search_parts is not None:
        del version.search_text  # the function wrote it from the stored definition: read on access, if ever
    setattr(version, version_model.parent_field, definition)
    version.is_latest = is_latest
    version.effective_tags = effective_tags_of(version.tags, definition.tags)
    mark_saved(version)
    set_alias_names(version, [])  # a version has no alias before it exists
    if definition.latest_version_id == version.pk:
        definition.latest_version = version
    _recorded(item_params, entry_id, at, version, created_changes if created else entry_changes)
    log_write("registered", definition, version.version)
    registration = Registration(version=version, warnings=[*warnings, *_lower_than_latest(parsed, _decoded(latest))])
    registration.created_definition = created
    return registration


def activate(version: DefinitionVersion) -> DefinitionVersion | None:
    """``kernel.writes.lifecycle.activate`` in one statement: the activated version as read back under the lock (with
    its aliases), or None when this kind has no function or the function handed it back (an archived version)
    having written nothing."""
    definition_model = type(version.definition)
    version_model = type(version)
    if not _has_function(definition_model, "activate"):
        return None
    sql, item_params = _write_statement(
        definition_model,
        "activate",
        "%s, %s",
        action="version_activated",
        entry="SELECT r_definition ->> 'name' AS name, r_version ->> 'version' AS version, %s AS object_id, r_changes AS changes",
        columns="r_version, r_definition, r_aliases, r_changes",
    )
    found = _execute(sql, [version.pk, definition_model.kind, *item_params, str(version.pk)])
    if found is None:
        return None
    stored_version, stored_definition, aliases, changes, at, entry_id = found
    definition = definition_model()
    _load(definition, _decoded(stored_definition))
    activated = version_model()
    _load(activated, _decoded(stored_version))
    setattr(activated, version_model.parent_field, definition)
    activated.alias_csv = aliases
    _recorded(item_params, entry_id, at, activated, _decoded(changes))
    log_write("version_activated", definition, activated.version)
    return activated


def _write_statement(
    definition_model, write: str, arguments: str, *, action: str, entry: str, columns: str
) -> tuple[str, list]:
    """(SQL, the change log's parameters) of a one-statement write: the kind's function for ``write`` called with
    ``arguments`` as the CTE ``done``; the change-log entry ``entry`` (a SELECT list of name, version, object_id
    and changes over ``done``) appended with the listeners' set forms unless the function handed the write back;
    and ``done``'s ``columns`` with the entry's id. The statement's parameters are the function's, then the
    change log's, then the entry's."""
    kind = definition_model.kind
    items, item_params = changelog.appending(
        f"{entry}, r_at AS at FROM done WHERE r_outcome <> '{FALLBACK}'",
        action=f"{kind}.{action}",
        kind=kind,
        stamped=True,
    )
    sql = (
        f"WITH done AS MATERIALIZED (SELECT * FROM {definition_model.write_functions[write]}({arguments})), {', '.join(items)} "
        f"SELECT r_outcome, {columns}, r_at, (SELECT id FROM changelog_entries) FROM done"
    )
    return sql, item_params


def _execute(sql: str, params: list) -> tuple | None:
    """Run a one-statement write; its row after the outcome, or None when the function handed the write back
    (or a constraint refused it), with nothing written either way."""
    try:
        # Inside a caller's transaction (the admin, a job, a test) a savepoint keeps a refused statement from
        # spoiling it; on its own (an API request) the statement is its own transaction.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                found = cursor.fetchone()
    except (IntegrityError, DataError):
        return None  # the ORM path finds out again and words the answer
    return None if found[0] == FALLBACK else found[1:]


def _recorded(item_params: list, entry_id: int, at, version, changes: dict) -> None:
    """What follows a write's change-log entry in Python: the listeners without a set form, and the kind's
    ``changed`` once the write commits (``Definition.announce_change``; ``changing`` is never overridden here)."""
    actor, request_id, action, kind = item_params[-4:]  # after the trace context
    definition = version.definition
    changelog.entries_recorded(
        [
            changelog.ChangeLogEntry(
                pk=entry_id,
                at=at,
                actor=actor,
                request_id=request_id,
                action=action,
                kind=kind,
                name=definition.name,
                version=version.version,
                object_id=str(version.pk),
                changes=changes,
            )
        ],
        set_forms_ran=True,
    )
    transaction.on_commit(type(definition).changed)


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def _row_json(instance) -> str:
    """The row as ``jsonb_populate_record`` reads it: every column by name (JSON columns as JSON, the search
    vector left to the function)."""
    row = {field.column: _json_value(getattr(instance, field.attname)) for field in instance._meta.concrete_fields}
    return json.dumps(row, allow_nan=False)


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _load(instance, row: dict) -> None:
    """Set a model instance's fields from ``to_jsonb`` of its row, as a query would have."""
    for field in instance._meta.concrete_fields:
        if field.column not in row:
            continue  # left out of the row (a version's search vector): deferred, as a query would leave it
        value = row[field.column]
        setattr(instance, field.attname, value if field.get_internal_type() == "JSONField" else field.to_python(value))
    mark_saved(instance)


def _lower_than_latest(parsed: ParsedVersion, latest: dict | None) -> list[Issue]:
    """The ORM path's ``lower_than_latest`` warning, from the latest version the function read."""
    if not latest or latest["prerelease"]:
        return []
    latest_parsed = ParsedVersion(latest["major"], latest["minor"], latest["patch"], latest["prerelease"], "")
    if parsed.sort_tuple() < latest_parsed.sort_tuple():
        return [
            Issue(
                "/version",
                "lower_than_latest",
                f"{parsed.text} is lower than the latest release {latest['version']}; registered as a hotfix.",
            )
        ]
    return []
