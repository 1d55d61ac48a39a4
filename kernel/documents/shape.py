"""The shape of a versioned definition's document: which fields it has and who manages each.

A document is flat: identity (``name``, ``version``), the definition-wide fields of its kind (``parent_fields``,
e.g. a model's family), the spec, the mutable version fields, the ``definition`` block, and the server-managed
fields a GET adds. ``DefinitionVersion.document`` builds it in Python, ``kernel.fastpaths.page_documents`` in SQL
and ``kernel.api.serializers`` describes it; each takes the field lists from here.
"""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator

from kernel.rules.validation import Issue, issue_from_schema_error, pointer

# Fields every document carries besides its spec.
IDENTITY_FIELDS = ("name", "version")
MUTABLE_VERSION_FIELDS = ("description", "tags", "metadata")
MUTABLE_DEFAULTS: dict[str, Any] = {"description": "", "tags": [], "metadata": {}}
# Server-managed fields a document as GET returned it carries; a write ignores them (with a warning) rather than
# rejecting the document, so a client can send a document back after changing what it means to change.
LIFECYCLE_FIELDS = ("id", "status", "is_current", "active", "aliases", "created_at", "updated_at")
READ_ONLY_FIELDS = (*LIFECYCLE_FIELDS, "warnings", "stored_artifacts", "storage_tier", "archived_at", "purged_at")
# The definition's own tags and description (as MLflow keeps registered-model tags apart from version tags),
# nested under one key so the document shape is the same for every kind: {"definition": {"tags", "description"}}.
DEFINITION_KEY = "definition"
DEFINITION_FIELDS = ("tags", "description")
DEFINITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "The definition's own tags and description, shared by every version (a version keeps its own).",
    "properties": {
        "tags": {
            "type": "array",
            "maxItems": 64,
            "uniqueItems": True,
            "items": {
                "type": "string",
                "pattern": "^[a-z0-9][a-z0-9._:-]{0,63}\\Z",
                "x-message": "Each item is a lowercase slug of at most 64 characters.",
            },
        },
        "description": {"type": "string", "maxLength": 10000},
    },
}
_DEFINITION_VALIDATOR = Draft202012Validator(DEFINITION_SCHEMA)


def ignore_read_only(document: Any) -> tuple[Any, list[Issue]]:
    """The document without server-managed fields, and a warning for each one dropped."""
    if not isinstance(document, dict):
        return document, []
    dropped = [key for key in READ_ONLY_FIELDS if key in document]
    warnings = [
        Issue(pointer(key), "read_only_ignored", f"{key} is managed by the registry; the value sent was ignored.")
        for key in dropped
    ]
    return {k: v for k, v in document.items() if k not in dropped}, warnings


def check_definition_block(block: Any) -> list[Issue]:
    """Every problem in a document's ``definition`` block, with paths under ``/definition``."""
    return [
        Issue(pointer(DEFINITION_KEY) + issue.path, issue.code, issue.message)
        for issue in map(issue_from_schema_error, _DEFINITION_VALIDATOR.iter_errors(block))
    ]


def split_document(version_model, document: dict) -> tuple[dict, dict]:
    """(spec, mutable fields) of a registrable document of ``version_model``'s kind."""
    parent_model = version_model._meta.get_field(version_model.parent_field).related_model
    skip = {*IDENTITY_FIELDS, *parent_model.parent_fields, *MUTABLE_VERSION_FIELDS, DEFINITION_KEY}
    spec = {k: v for k, v in document.items() if k not in skip}
    # A copy: every version gets its own list/dict, never the shared default.
    mutable = {k: copy.deepcopy(document.get(k, MUTABLE_DEFAULTS[k])) for k in MUTABLE_VERSION_FIELDS}
    return spec, mutable


def effective_tags_of(version_tags: Any, definition_tags: Any) -> list:
    """A version's ``effective_tags``: its own tags, then its definition's that it does not carry itself. The
    PL/pgSQL registration computes the same (``kernel.migration_operations``); the one-statement equivalence tests
    hold the two equal."""
    own = list(version_tags) if isinstance(version_tags, list) else []
    return own + [t for t in (definition_tags if isinstance(definition_tags, list) else []) if t not in own]
