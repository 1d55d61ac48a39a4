"""Two versions of a definition compared: what changed, was added and was removed in their documents, each entry
with its JSON Pointer and the values on both sides, and what the kind adds (a model's metric deltas and where the
two sit in lineage). The API's ``GET /api/v1/{kind}/{name}/diff``, the admin's compare page and the client's
``registry diff`` all answer from ``diff_versions``.

The documents compared are the registrable ones (``DefinitionVersion.document``: spec, mutable fields, the kind's
registrable extras such as ``derived_from``) without ``name`` and ``version``, which the answer's ``from`` and
``to`` carry. Server-managed fields (status, aliases, timestamps) differ between any two versions and say nothing
about what was registered: the two summaries show them. Lists of the same length are compared item by item; a list
whose length differs is one ``changed`` entry with both lists (as ``differing_paths`` names it for a 409).

The work is bounded: documents are bounded by validation, and at most ``MAX_DIFF_ENTRIES`` entries are answered
(``truncated`` says when more differ).
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from kernel.documents.shape import IDENTITY_FIELDS, alias_names, api_timestamp
from kernel.exceptions import DefinitionNotFound, RegistryError
from kernel.models.definitions import Definition, DefinitionVersion
from kernel.reads.lookups import lookup
from kernel.rules.validation import MISSING, differences

MAX_DIFF_ENTRIES = 500
MAX_REF_LENGTH = 130  # a version reference: 128 characters of semver or an alias name with its '@', and a margin


class NoBaseVersion(RegistryError):
    """``from`` was left out and the ``to`` version derives from no other version to compare it with."""

    code = "required"


def diff_versions(
    definition_model: type[Definition], name: str, from_version: str | None, to_version: str | None
) -> dict[str, Any]:
    """Compare two versions of the live definition ``name``. A reference is a number, ``latest``, ``current`` or
    ``@alias``. Without ``from_version``, ``to_version`` is compared with the version it derives from (a model's
    ``derived_from``, which may belong to another model). Raises ``RegistryError`` naming the parameter for a
    missing or malformed reference, ``DefinitionNotFound`` (404) for an unknown definition or version."""
    to = _resolve(definition_model, name, to_version, "to")
    if from_version is None:
        base = to.derived_from_version()
        if base is None:
            raise NoBaseVersion(
                f"{to} derives from no other version: name the version to compare it with in `from`.", path="from"
            )
    else:
        base = _resolve(definition_model, name, from_version, "from")
    found = list(islice(differences(comparable(base), comparable(to)), MAX_DIFF_ENTRIES + 1))
    entries: dict[str, list] = {"changed": [], "added": [], "removed": []}
    for path, before, after in found[:MAX_DIFF_ENTRIES]:
        if before is MISSING:
            entries["added"].append({"path": path, "value": after})
        elif after is MISSING:
            entries["removed"].append({"path": path, "value": before})
        else:
            entries["changed"].append({"path": path, "from": before, "to": after})
    return {
        "kind": definition_model.kind,
        "name": to.definition.name,
        "from": summary(base),
        "to": summary(to),
        **entries,
        "truncated": len(found) > MAX_DIFF_ENTRIES,
        **to.comparison(base),
    }


def comparable(version: DefinitionVersion) -> dict[str, Any]:
    """What a comparison compares of a version: its registrable document without its identity."""
    return {key: value for key, value in version.document().items() if key not in IDENTITY_FIELDS}


def summary(version: DefinitionVersion) -> dict[str, Any]:
    """One side of a comparison: which version it is and where it stands."""
    return {
        "id": str(version.pk),
        "name": version.definition.name,
        "version": version.version,
        "status": version.status,
        "is_current": version.is_current,
        "aliases": alias_names(version),
        "created_at": api_timestamp(version.created_at),
    }


def _resolve(definition_model: type[Definition], name: str, ref: str | None, parameter: str) -> DefinitionVersion:
    if ref is None or not ref.strip():
        raise RegistryError(
            f"`{parameter}` is required: a version number, latest, current or @alias.", code="required", path=parameter
        )
    if len(ref) > MAX_REF_LENGTH:
        raise RegistryError(
            f"`{parameter}` is {len(ref)} characters long; a version reference has at most {MAX_REF_LENGTH}.",
            code="too_long",
            path=parameter,
        )
    try:
        return lookup(definition_model, name, ref)
    except DefinitionNotFound as exc:
        if exc.path == "name":
            raise
        # The definition exists, the version does not: the error names the parameter that named it.
        raise DefinitionNotFound(exc.message, code=exc.code, path=parameter) from None
