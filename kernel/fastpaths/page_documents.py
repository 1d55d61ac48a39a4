"""A page of a list's documents, built by PostgreSQL.

A list answers up to 100 documents. Built in Python, each costs two model instances (the version and its
definition), a dozen field converters and the serializer's field-by-field work: two thirds of a list's time (see
docs/benchmarks.md, "Issue 14"); decoding the stored spec and encoding it again would be most of what is left.
Here PostgreSQL writes each document as JSON text: its fields with ``json_build_object`` (``json``, not ``jsonb``:
it keeps the keys in the order given) and the stored spec's members spliced in between, and Python joins the
texts into the page. The result is the serializer's document, key for key and in the same order, both taken
from the one declaration of the document's shape (``kernel.documents.shape``: its field lists, each field's SQL
expression, and a kind's ``document_extras``).

Only the whitespace differs (PostgreSQL writes ``{"a" : 1, "b": 2}``). Values are the stored JSON as the
serializer reads it back. ``tests/kernel/test_page_documents.py`` holds the two equal, for every kind.
SQLite (the embedded default) keeps the serializer.
"""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import BooleanField, F, Func, QuerySet, TextField, UUIDField, Value
from django.http import HttpResponse

from kernel.documents.shape import (
    DEFINITION_FIELDS,
    DEFINITION_KEY,
    ID_FIELD,
    IDENTITY_FIELDS,
    MUTABLE_VERSION_FIELDS,
    registrable_extras,
    trailing_fields,
)
from kernel.documents.sql import Composite, OrderedJSONObject
from kernel.fastpaths.prepared import fixed_statement_cursor
from registry_project.private_apis.for_drf import media_type_params
from registry_project.replicas import read_connection


def built_by_database(request) -> bool:
    """Whether this request's page is written by PostgreSQL. APITimestamp writes UTC, as DRF does under the
    project's TIME_ZONE; a client asking for indented JSON (``Accept: application/json; indent=4``) gets the
    serializer and DRF's renderer."""
    if connection.vendor != "postgresql" or settings.TIME_ZONE != "UTC":
        return False
    return "indent" not in media_type_params(getattr(request, "accepted_media_type", "") or "")


class DocumentText(Composite):
    """One version's whole document as JSON text, spliced in the order ``DefinitionVersion.document`` and the
    serializer merge it: the head object, the definition's own fields that are set, the spec's members, the mutable
    fields' object, the kind's own registrable fields that are set, then the tail object."""

    output_field = TextField()

    def __init__(self, head, parents: dict, spec, mutable, extras: dict, tail):
        super().__init__()
        self.parent_names, self.extra_names = list(parents), list(extras)
        self.parts = [head, *parents.values(), spec, mutable, *extras.values(), tail]

    @staticmethod
    def _optional(name: str, part, compiled) -> tuple[str, list]:
        """``, "name" : value``, or nothing when the value is unset (None, or "" for text), as ``document``
        leaves such a field out."""
        value, value_params = compiled
        unset, unset_params = f"({value}) IS NULL", [*value_params]
        if part.output_field.get_internal_type() in ("CharField", "TextField"):
            unset, unset_params = f"{unset} OR ({value}) = ''", [*unset_params, *value_params]
        sql = f"CASE WHEN {unset} THEN '' ELSE ', ' || to_json(%s::text)::text || ' : ' || to_json({value})::text END"
        return sql, [*unset_params, name, *value_params]

    def as_sql(self, compiler, connection):
        head, *rest = self.parts
        parents, rest = rest[: len(self.parent_names)], rest[len(self.parent_names) :]
        spec, mutable, *rest = rest
        extras, tail = rest[:-1], rest[-1]
        (head_sql, head_params), (spec_sql, spec_params) = compiler.compile(head), compiler.compile(spec)
        sql, params = [f"left(({head_sql})::text, -1)"], [*head_params]
        for name, part in zip(self.parent_names, parents):
            fragment, fragment_params = self._optional(name, part, compiler.compile(part))
            sql.append(fragment)
            params += fragment_params
        # The spec's members without its braces; none when it is empty. A stored spec holds none of the document's
        # other keys (registration splits them off), but a key written there another way (a restored backup)
        # must not appear twice: the other parts' keys win, as in the serializer's merge.
        reserved = [*head.keys, *self.parent_names, *mutable.keys, *self.extra_names, *tail.keys]
        spec_sql, spec_params = f"(({spec_sql}) - %s::text[])", [*spec_params, reserved]
        sql.append(
            f"CASE WHEN {spec_sql} = '{{}}'::jsonb THEN '' ELSE ', ' || left(substr({spec_sql}::text, 2), -1) END"
        )
        params += [*spec_params, *spec_params]
        mutable_sql, mutable_params = compiler.compile(mutable)
        sql.append(f"', ' || left(substr(({mutable_sql})::text, 2), -1)")
        params += mutable_params
        for name, part in zip(self.extra_names, extras):
            fragment, fragment_params = self._optional(name, part, compiler.compile(part))
            sql.append(fragment)
            params += fragment_params
        tail_sql, tail_params = compiler.compile(tail)
        sql.append(f"', ' || substr(({tail_sql})::text, 2)")
        params += tail_params
        return "(" + " || ".join(sql) + ")", params


def document_texts(queryset: QuerySet) -> QuerySet:
    """``queryset`` (versions of one kind) as (primary key, the version's document as JSON text) rows: the fields
    and their order as ``kernel.documents.shape`` declares them, each written by its ``DocumentField.expression``."""
    model = queryset.model
    parent = model.parent_field
    definition_model = model._meta.get_field(parent).related_model
    name, version = IDENTITY_FIELDS
    head = OrderedJSONObject(
        {
            ID_FIELD.name: ID_FIELD.expression(model),
            name: f"{parent}__name",
            version: "version",
            DEFINITION_KEY: OrderedJSONObject({name: f"{parent}__{name}" for name in DEFINITION_FIELDS}),
        }
    )
    parents = {name: F(f"{parent}__{name}") for name in definition_model.parent_fields}
    mutable = OrderedJSONObject({name: name for name in MUTABLE_VERSION_FIELDS})
    extras = {field.name: field.expression(model) for field in registrable_extras(model)}
    tail = OrderedJSONObject({field.name: field.expression(model) for field in trailing_fields(model)})
    document = DocumentText(head, parents, F("spec"), mutable, extras, tail)
    return queryset.values_list("pk", document)


class _IsAnyOf(Func):
    """``value = ANY(array)``: one array parameter, so the same SQL text for any number of keys."""

    template = "(%(expressions)s))"
    arg_joiner = " = ANY("
    output_field = BooleanField()


_compiled: dict[type, tuple[str, list, int]] = {}


def documents_by_key(model, keys: list) -> dict:
    """{primary key: document text} for the versions ``keys`` name: one statement compiled once per process (the
    expression tree above costs more Python to compile than the page costs to read) and, on the connection that
    prepares the hot path's statements, planned once per connection."""
    compiled = _compiled.get(model)
    if compiled is None:
        marker = uuid.uuid4()
        matches = _IsAnyOf(F("pk"), Value([marker], output_field=ArrayField(UUIDField())))
        # Alive again: a version or definition deleted since the keys were read is left out.
        sql, params = document_texts(model.objects.of_alive().filter(matches).order_by()).query.sql_with_params()
        slot = next(i for i, param in enumerate(params) if isinstance(param, list) and marker in param)
        compiled = _compiled[model] = (sql, list(params), slot)
    sql, params, slot = compiled
    params = list(params)
    params[slot] = list(keys)
    with fixed_statement_cursor(read_connection()) as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def rendered_page(envelope: dict, documents: list[str]) -> HttpResponse:
    """The paginator's envelope with the documents' JSON texts as its ``results``, rendered as DRF renders JSON
    (UTF-8, compact); the documents themselves are PostgreSQL's JSON text."""
    members = []
    for key, value in envelope.items():
        text = (
            "[" + ",".join(documents) + "]"
            if key == "results"
            else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        )
        members.append(f"{json.dumps(key)}:{text}")
    body = "{" + ",".join(members) + "}"
    # As DRF's JSONRenderer: U+2028 and U+2029 escaped (valid JSON, not valid JavaScript).
    body = body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return HttpResponse(body.encode(), content_type="application/json")
