"""A live definition's version by name and reference (a number, ``latest``, ``current`` or ``@alias``) or by id,
in one query on the hot path: the queries are compiled once per process (``kernel.fastpaths.prepared``) and read
the version with its definition, its aliases and the credential token (a read confirms its cached API key with it,
``kernel.api.auth.ConfirmsCredentialsLate``). On a miss, the slower path finds out which part was missing, for
the 404's message."""

from __future__ import annotations

import uuid

from django.db.models import F

from kernel import credentials
from kernel.fastpaths.prepared import Placeholder, PreparedQuery
from kernel.models.definitions import SEARCH_COLUMNS, Definition, DefinitionVersion
from kernel.rules.semver import InvalidVersion, parse_version

# (definition class, lookup) -> its PreparedQuery; see _prepared.
_PREPARED: dict[tuple[type, str], PreparedQuery] = {}


def lookup(definition_model: type[Definition], name: str, ref: str | None = None) -> DefinitionVersion:
    """A live definition's version by name and reference; DefinitionNotFound (a 404) names what is missing."""
    ref = ref or "latest"
    if ref in ("latest", "current"):
        found = pointed_at(definition_model, name, ref)
    elif ref.startswith("@"):
        version_model = definition_model.versions.rel.related_model
        parent = version_model.parent_field
        versions = version_model.objects.filter(**{f"{parent}__name": name, f"{parent}__deleted_at__isnull": True})
        found = versions.select_related(parent).with_aliases().named(ref)
    else:
        try:
            parsed = parse_version(ref)
        except InvalidVersion:
            found = None
        else:
            found = _prepared(definition_model, "number").first(name=name, **parsed.identity())
    return found if found is not None else definition_model.get_alive(name).resolve_version(ref)


def pointed_at(definition_model: type[Definition], name: str, role: str) -> DefinitionVersion | None:
    """The ``latest`` or ``current`` version of a live definition through its pointer, with its definition and
    its aliases, in one query: the version joined with the definition pointing at it."""
    return _prepared(definition_model, role).first(name=name)


def version_by_id(definition_model: type[Definition], pk: uuid.UUID) -> DefinitionVersion | None:
    """A present version of a live definition by its id, with its definition and aliases, in one query."""
    return _prepared(definition_model, "id").first(pk=pk)


def _prepared(definition_model: type[Definition], lookup: str) -> PreparedQuery:
    """The document reads' queries (by pointer, number or id), compiled once per process: the version with its
    definition and aliases, without the stored search columns."""
    query = _PREPARED.get((definition_model, lookup))
    if query is not None:
        return query
    version_model = definition_model.versions.rel.related_model
    parent = version_model.parent_field
    documents = (
        version_model.objects.select_related(parent)
        .defer(*SEARCH_COLUMNS)
        .with_aliases()
        .annotate(credential_token=credentials.token_column())
    )
    alive = {f"{parent}__deleted_at__isnull": True}
    if lookup in ("latest", "current"):
        query = PreparedQuery(
            lambda name: documents.filter(**{f"{parent}__name": name, f"{parent}__{lookup}_version": F("pk")}, **alive),
            name=Placeholder.TEXT,
        )
    elif lookup == "number":
        query = PreparedQuery(
            lambda name, **identity: (
                documents.filter(**{f"{parent}__name": name}, **alive).present().filter(**identity)
            ),
            name=Placeholder.TEXT,
            major=Placeholder.INTEGER,
            minor=Placeholder.INTEGER,
            patch=Placeholder.INTEGER,
            prerelease=Placeholder.TEXT,
        )
    elif lookup == "id":
        query = PreparedQuery(lambda pk: documents.filter(pk=pk, **alive).present(), pk=Placeholder.UUID)
    else:
        raise ValueError(lookup)
    _PREPARED[(definition_model, lookup)] = query
    return query
