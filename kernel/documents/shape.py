"""The shape of a versioned definition's document: which fields it has, in which order, and who manages each.

A document is flat, and its fields come in this order::

    {"id", "name", "version", "definition", <the definition-wide fields of its kind that are set (parent_fields)>,
     <spec>, "description", "tags", "metadata", <the kind's own registrable fields that are set>,
     "status", "active", "is_current", "aliases", "created_at", "updated_at", <the kind's own server-managed fields>}

The fields besides identity, spec and the mutable ones are declared here once, as ``DocumentField``s (``ID_FIELD``,
``LIFECYCLE_FIELDS``), and a kind's own on its version model (``DefinitionVersion.document_extras``), each with how
Python reads it, how PostgreSQL writes it and how OpenAPI describes it. From these, ``DefinitionVersion.document``
and ``api_document`` build a document in Python, ``kernel.fastpaths.page_documents`` in SQL, the API's views
describe it (``kernel.api.views.DefinitionViewSet.document_schemas``), and writes tell the server-managed fields
they ignore (``ignore_read_only``) and the lifecycle fields they refuse to change (``lifecycle_state``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.postgres.aggregates import JSONBAgg
from django.db.models import BooleanField, ExpressionWrapper, F, Func, OuterRef, Q, Subquery, TextField
from django.db.models.functions import Coalesce, Collate
from jsonschema import Draft202012Validator
from rest_framework.fields import DateTimeField

from kernel.choices import Lifecycle
from kernel.documents.sql import APITimestamp
from kernel.models.aliases import Alias
from kernel.rules.validation import Issue, issue_from_schema_error, pointer


@dataclass(frozen=True)
class DocumentField:
    """One field of a document besides identity, spec and the mutable fields, declared once.

    ``value`` reads it from a version in Python; ``sql`` is how PostgreSQL writes it for a page of a list (a field
    path, an expression, or a function of the version model that gives one); ``schema`` is its OpenAPI property.
    A server-managed field is answered after the lifecycle fields, always (``null`` when unset), and a write
    ignores it; a registrable one (``server_managed=False``, e.g. a model's ``derived_from``, described by the
    kind's JSON Schema) belongs to the registrable document, after the mutable fields, and is left out when unset
    (``None``, or ``""`` for text). ``required``: listed as required in the response schema. ``lifecycle``: a
    field the lifecycle actions move, so a write that asks for another value is refused rather than ignored."""

    name: str
    value: Callable[[Any], Any]
    sql: Any
    schema: dict | None = None
    server_managed: bool = True
    required: bool = True
    lifecycle: bool = False

    def expression(self, version_model) -> Any:
        """This field's SQL expression for ``version_model``'s rows (a fresh one, for the caller to resolve)."""
        if isinstance(self.sql, str):
            return F(self.sql)
        if hasattr(self.sql, "resolve_expression"):
            return copy.deepcopy(self.sql)
        return self.sql(version_model)


_datetime = DateTimeField()


def api_timestamp(value) -> str | None:
    """A timestamp as the API writes it (DRF's ``DateTimeField``; ``None`` stays ``None``): what ``APITimestamp``
    writes in SQL."""
    return _datetime.to_representation(value)


def alias_names(version) -> list[str]:
    """The aliases pointing at ``version``: read with it (``VersionQuerySet.with_aliases``), attached for a page
    (``attach_aliases``), set by the write that created it (``set_alias_names``), or else queried."""
    if hasattr(version, "alias_csv"):
        return sorted(version.alias_csv.split(",")) if version.alias_csv else []
    if not hasattr(version, "_aliases"):
        attach_aliases([version])
    return version._aliases


def set_alias_names(version, names: list[str]) -> None:
    """Tell ``alias_names`` the aliases of ``version`` without a query (a version just registered has none)."""
    version._aliases = names


def attach_aliases(versions) -> None:
    """Read the aliases of a page of versions (of one kind) in one query."""
    versions = list(versions)
    if not versions:
        return
    model = type(versions[0])
    kind = model._meta.get_field(model.parent_field).related_model.kind
    found = Alias.names_by_version(kind, [v.pk for v in versions])
    for version in versions:
        set_alias_names(version, found.get(version.pk, []))


def alias_names_sql(version_model) -> Any:
    """``alias_names`` in SQL: a JSON array of the version's aliases in byte order."""
    kind = version_model._meta.get_field(version_model.parent_field).related_model.kind
    aliases = (
        Alias.objects.filter(kind=kind, version_id=OuterRef("pk"))
        .order_by()
        .values("kind")
        # Byte order, as Python's sorted(): a collation would place '-', '.' and '_' elsewhere.
        .annotate(names=JSONBAgg("alias", order_by=Collate(F("alias"), "C")))
        .values("names")
    )
    return Coalesce(Subquery(aliases), Func(template="'[]'::jsonb"), output_field=TextField())


ID_FIELD = DocumentField(
    "id",
    value=lambda version: str(version.id),
    sql=Func(F("pk"), template="%(expressions)s::text", output_field=TextField()),
    schema={"type": "string", "format": "uuid", "readOnly": True},
)
# The server-managed fields every document ends with, in document order.
LIFECYCLE_FIELDS: tuple[DocumentField, ...] = (
    DocumentField(
        "status",
        value=lambda version: version.status,
        sql="status",
        lifecycle=True,
        schema={"type": "string", "enum": ["active", "deprecated", "archived"], "readOnly": True},
    ),
    DocumentField(
        "active",
        value=lambda version: version.status == Lifecycle.ACTIVE,
        lifecycle=True,
        sql=ExpressionWrapper(Q(status=Lifecycle.ACTIVE), output_field=BooleanField()),
        schema={"type": "boolean", "readOnly": True, "description": "status is active (the platform's own field)."},
    ),
    DocumentField(
        "is_current",
        value=lambda version: version.is_current,
        sql="is_current",
        lifecycle=True,
        schema={"type": "boolean", "readOnly": True},
    ),
    DocumentField(
        "aliases",
        value=alias_names,
        sql=alias_names_sql,
        required=False,
        schema={
            "type": "array",
            "items": {"type": "string"},
            "readOnly": True,
            "description": "Aliases pointing at this version.",
        },
    ),
    DocumentField(
        "created_at",
        value=lambda version: api_timestamp(version.created_at),
        sql=APITimestamp("created_at"),
        schema={"type": "string", "format": "date-time", "readOnly": True},
    ),
    DocumentField(
        "updated_at",
        value=lambda version: api_timestamp(version.updated_at),
        sql=APITimestamp("updated_at"),
        schema={"type": "string", "format": "date-time", "readOnly": True},
    ),
)
# Registration and update answers add the write's warnings.
WARNINGS_KEY = "warnings"

# Fields every document carries besides its spec.
IDENTITY_FIELDS = ("name", "version")
MUTABLE_VERSION_FIELDS = ("description", "tags", "metadata")
MUTABLE_DEFAULTS: dict[str, Any] = {"description": "", "tags": [], "metadata": {}}
# Server-managed fields a document as GET returned it carries; a write ignores them (with a warning) rather than
# rejecting the document, so a client can send a document back after changing what it means to change. The same
# list for every kind (a pipeline document that carries a model's storage_tier has it ignored too), in the order the
# warnings name them: not derived from the declarations above, since that order (is_current before active) is part
# of the answers. tests/kernel/test_document_shape.py holds it equal, as a set, to ID_FIELD, LIFECYCLE_FIELDS,
# WARNINGS_KEY and every kind's server-managed document_extras; DefinitionVersion refuses a kind whose
# server-managed field is missing here.
READ_ONLY_FIELDS = (
    "id",
    "status",
    "is_current",
    "active",
    "aliases",
    "created_at",
    "updated_at",
    WARNINGS_KEY,
    "stored_artifacts",
    "storage_tier",
    "archived_at",
    "purged_at",
)
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
# Every kind's definition-wide key-value labels (Definition.labels), checked here once rather than in each kind's
# JSON Schema. A key's separators stand alone, so a key never holds "__" (kernel.api.filtersets.LABEL_SELECTOR).
LABELS_KEY = "labels"
LABEL_KEY_PATTERN = "^[a-z0-9]+([._-][a-z0-9]+)*\\Z"
LABEL_VALUE_PATTERN = "^[a-z0-9][a-z0-9._-]{0,63}\\Z"
LABELS_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "maxProperties": 32,
    "propertyNames": {
        "type": "string",
        "maxLength": 64,
        "pattern": LABEL_KEY_PATTERN,
        "x-message": "A label key is a lowercase slug of at most 64 characters whose '.', '_' and '-' stand between "
        "letters or digits, e.g. 'subject'.",
    },
    "additionalProperties": {
        "type": "string",
        "pattern": LABEL_VALUE_PATTERN,
        "x-message": "A label value is a lowercase slug of at most 64 characters, e.g. 'math'.",
    },
    "description": "Definition-wide key-value labels (?label=key:value filters, repeatable, all must match); the "
    'earlier services\' subject and category are labels: {"subject": "math", "category": "traffic-prediction"}. '
    "null clears them.",
}
_LABELS_VALIDATOR = Draft202012Validator(LABELS_SCHEMA)


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


def check_labels(labels: Any) -> list[Issue]:
    """Every problem in a document's ``labels``, with paths under ``/labels``."""
    return [
        Issue(pointer(LABELS_KEY) + issue.path, issue.code, issue.message)
        for issue in map(issue_from_schema_error, _LABELS_VALIDATOR.iter_errors(labels))
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
    PL/pgSQL registration computes the same (``kernel.migration_operations``, frozen in a migration);
    ``tests/kernel/test_rules_in_sql.py`` holds its expression to this function over many cases, and the
    one-statement equivalence tests hold the two paths equal."""
    own = list(version_tags) if isinstance(version_tags, list) else []
    return own + [t for t in (definition_tags if isinstance(definition_tags, list) else []) if t not in own]


@cache  # a kind's declarations are class attributes: computed once per kind, not per document
def registrable_extras(version_model) -> tuple[DocumentField, ...]:
    """The kind's own fields of the registrable document (``DefinitionVersion.document``), in order."""
    return tuple(field for field in version_model.document_extras if not field.server_managed)


@cache
def server_managed_extras(version_model) -> tuple[DocumentField, ...]:
    """The kind's own server-managed fields, which a document ends with, in order."""
    return tuple(field for field in version_model.document_extras if field.server_managed)


@cache
def trailing_fields(version_model) -> tuple[DocumentField, ...]:
    """The fields a kind's document as GET returns it ends with: the lifecycle fields, then the kind's own
    server-managed ones."""
    return (*LIFECYCLE_FIELDS, *server_managed_extras(version_model))


def api_document(version) -> dict:
    """The document a GET answers: ``id``, the registrable document, then the trailing server-managed fields."""
    body = {ID_FIELD.name: ID_FIELD.value(version)}
    body.update(version.document())
    for field in trailing_fields(type(version)):
        body[field.name] = field.value(version)
    return body


def required_in_answers(version_model) -> list[str]:
    """The fields every document GET answers carries, as the response schema lists them."""
    trailing = [field.name for field in trailing_fields(version_model) if field.required]
    return [ID_FIELD.name, *IDENTITY_FIELDS, DEFINITION_KEY, *trailing]


def lifecycle_state(version) -> dict[str, Any]:
    """The values of the fields only the lifecycle actions move: a write that asks for others is refused."""
    return {field.name: field.value(version) for field in LIFECYCLE_FIELDS if field.lifecycle}
