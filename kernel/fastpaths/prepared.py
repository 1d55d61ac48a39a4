"""QuerySets compiled to SQL once per process and run again with new values: the document reads' hot path.

Compiling a QuerySet (resolving lookups, joins, the aliases subquery, quoting every column) cost more Python
than everything else a document read does. A ``PreparedQuery`` builds its QuerySet once with placeholder
values, compiles it, remembers where each placeholder landed in the parameters, and afterwards only executes
the SQL with the request's values and builds the model instances the way Django's own ``ModelIterable`` does
(deferred fields, ``select_related`` parents and annotations included). The QuerySet stays the one source of
the query: the SQL is Django's, compiled for the connection's database, so it cannot drift from the ORM.

A placeholder must come out of compilation unchanged (an exact match on a text or integer column, or a UUID
primary key); ``PreparedQuery`` checks that each one appears in the compiled parameters and refuses to prepare
a query where one does not.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet

from registry_project.private_apis.for_django import CompiledRows, compile_rows
from registry_project.replicas import read_alias

# Values that stand out among the parameters (NUL characters, an integer no other literal uses): where they land in
# the compiled parameters is where the request's values go.
_TEXT = "\x00placeholder-{}\x00"
_INTEGER = 2_147_480_000  # within a 32-bit column: an out-of-range value compiles to "no rows"
_UUID = "00000000-0000-4000-8000-{:012x}"


def fixed_statement_cursor(connection):
    """A cursor for a statement the hot path runs again and again with new values: on PostgreSQL one whose
    statements the server prepares once per connection (``registry_project.db``), elsewhere a plain cursor."""
    return getattr(connection, "prepared_cursor", connection.cursor)()


class Placeholder:
    TEXT, INTEGER, UUID = "text", "integer", "uuid"


def _same(value: Any) -> Any:
    return value


def _adapter(param: Any, placeholder: Any) -> Callable[[Any], Any] | None:
    """How a request's value takes the place of ``placeholder`` if ``param`` is where it landed: as the same type
    (psycopg's Int4 for an integer column), or as hex text for a UUID on SQLite; None if ``param`` is not it."""
    if isinstance(placeholder, uuid.UUID):
        if isinstance(param, uuid.UUID) and param == placeholder:
            return _same
        if isinstance(param, str) and param == placeholder.hex:
            return lambda value: value.hex
        return None
    if type(placeholder) is int and isinstance(param, int) and not isinstance(param, bool) and param == placeholder:
        return type(param)
    if isinstance(placeholder, str) and isinstance(param, str) and param == placeholder:
        return str
    return None


class PreparedQuery:
    """``PreparedQuery(build, name=Placeholder.TEXT, ...)``: ``build(**values)`` returns the QuerySet;
    ``first(**values)`` runs it as ``QuerySet.first()`` would."""

    def __init__(self, build: Callable[..., QuerySet], **placeholders: str):
        self.build = build
        self.placeholders = placeholders
        self._compiled: dict[tuple[str, str], tuple[CompiledRows, list]] = {}
        self._lock = threading.Lock()

    def _placeholder_values(self) -> dict[str, Any]:
        values = {}
        for index, (name, kind) in enumerate(self.placeholders.items()):
            if kind == Placeholder.TEXT:
                values[name] = _TEXT.format(index)
            elif kind == Placeholder.INTEGER:
                values[name] = _INTEGER + index
            elif kind == Placeholder.UUID:
                values[name] = uuid.UUID(_UUID.format(index))
            else:
                raise ValueError(kind)
        return values

    def _compile(self, alias: str) -> tuple[CompiledRows, list]:
        """The compiled query (``registry_project.private_apis.for_django.compile_rows``: the compiler's internals
        as ``ModelIterable`` uses them) and where each placeholder landed in its parameters."""
        placeholder_values = self._placeholder_values()
        queryset = self.build(**placeholder_values)
        queryset = (queryset if queryset.ordered else queryset.order_by("pk"))[:1]
        compiled = compile_rows(queryset, alias)
        slots = []
        for name, value in placeholder_values.items():
            found = [
                (i, name, _adapter(p, value)) for i, p in enumerate(compiled.params) if _adapter(p, value) is not None
            ]
            if not found:
                raise ValueError(f"The placeholder {name!r} does not reach the compiled SQL's parameters unchanged.")
            slots.extend(found)
        return compiled, slots

    def first(self, using: str | None = None, **values) -> Model | None:
        """The first row for ``values``, read where this request reads (``registry_project.replicas``) unless
        ``using`` names a database."""
        using = using or read_alias()
        connection = connections[using]
        key = (using, connection.vendor)
        found = self._compiled.get(key)
        if found is None:
            with self._lock:
                found = self._compiled.get(key) or self._compile(using)
                self._compiled[key] = found
        compiled, slots = found
        params = list(compiled.params)
        for index, name, adapt in slots:
            params[index] = adapt(values[name])
        with fixed_statement_cursor(connection) as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        return compiled.instance(list(row), using, connection)
