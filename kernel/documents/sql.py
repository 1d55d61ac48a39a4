"""SQL expressions that write parts of a document as the API writes them, for the fields declared in
``kernel.documents.shape`` (a kind's own fields use them too: a model's ``derived_from``, ``archived_at``). They
build expressions only; the fast path that writes a page of documents (``kernel.fastpaths.page_documents``) puts
them together, so a model never imports a fast path."""

from __future__ import annotations

from typing import Any

from django.db.models import Expression, F, Func, TextField


class Composite(Expression):
    """An expression over a list of sub-expressions (``parts``), compiled by the subclass's ``as_sql``."""

    parts: list

    def get_source_expressions(self):
        return self.parts

    def set_source_expressions(self, exprs):
        self.parts = list(exprs)

    def resolve_expression(self, *args, **kwargs):
        clone = self.copy()
        clone.parts = [p.resolve_expression(*args, **kwargs) for p in self.parts]
        return clone


def as_expression(value: Any) -> Any:
    """An expression as given, or a field path (``"derived_from__version"``) as ``F``."""
    return value if hasattr(value, "resolve_expression") else F(value)


class OrderedJSONObject(Composite):
    """``json_build_object(key, value, ...)``: a JSON object with the keys in the order given."""

    output_field = TextField()  # only ever spliced into a document's text, never decoded

    def __init__(self, fields: dict[str, Any]):
        super().__init__()
        self.keys = list(fields)
        self.parts = [as_expression(v) for v in fields.values()]

    def as_sql(self, compiler, connection):
        parts, params = [], []
        for key, value in zip(self.keys, self.parts):
            sql, value_params = compiler.compile(value)
            parts.append(f"%s::text, {sql}")
            params += [key, *value_params]
        return f"json_build_object({', '.join(parts)})", params


class APITimestamp(Func):
    """A timestamp as the API writes it (DRF's ``DateTimeField``): ISO 8601 in UTC with ``Z``, microseconds only
    when there are any. NULL stays NULL. For a column: the template repeats the expression, not its parameters."""

    template = (
        "(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        " || CASE WHEN date_trunc('second', %(expressions)s) = %(expressions)s THEN ''"
        " ELSE to_char(%(expressions)s AT TIME ZONE 'UTC', '.US') END || 'Z')"
    )
    output_field = TextField()
