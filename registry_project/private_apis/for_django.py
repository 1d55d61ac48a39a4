"""Django's private APIs (an underscore name or an internal of the ORM or a backend), each behind one function.

Checked against Django 5.2.19 (pinned) and 6.0 (``make test-django-next``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models.query import get_related_populators


def mark_saved(instance: models.Model, using: str = "default") -> None:
    """Mark an instance built from a row that a raw statement wrote or read as a saved row of ``using`` (so a later
    ``save()`` updates it, and relations query that database).

    Relies on ``Model._state`` (a ``ModelState``) and its ``adding`` and ``db`` attributes, which ``Model.from_db``
    and ``save`` set (named in the model instance reference, but underscore; Django 5.2.19 and 6.0)."""
    instance._state.adding, instance._state.db = False, using


def being_added(instance: models.Model) -> bool:
    """Whether ``instance`` is not yet a saved row (built in Python, never saved nor loaded).

    Relies on ``Model._state.adding`` (as ``mark_saved``)."""
    return instance._state.adding


@dataclass(frozen=True)
class CompiledRows:
    """A compiled SELECT and how to turn one of its rows into the model instance ``ModelIterable`` would build."""

    sql: str
    params: tuple
    model: type[models.Model]
    init_list: list[str]
    start: int
    end: int
    populators: list
    annotations: dict[str, int]
    converters: list

    def instance(self, row: list, using: str, connection) -> models.Model:
        for position, (converters, expression) in self.converters:
            value = row[position]
            for converter in converters:
                value = converter(value, expression, connection)
            row[position] = value
        obj = self.model.from_db(using, self.init_list, row[self.start : self.end])
        for populator in self.populators:
            populator.populate(row, obj)
        for attribute, position in self.annotations.items():
            setattr(obj, attribute, row[position])
        return obj


def compile_rows(queryset: models.QuerySet, using: str) -> CompiledRows:
    """Compile ``queryset`` for the connection ``using`` and keep what turning a row into an instance needs.

    Relies on the SQL compiler's internals as ``django.db.models.query.ModelIterable.__iter__`` uses them (read in
    Django 5.2.19 and 6.0): ``Query.get_compiler(using=)``, ``SQLCompiler.as_sql()`` (SQL and parameters),
    ``compiler.select`` (``(expression, sql, alias)`` triples, ``expression.target.attname``),
    ``compiler.klass_info`` (``"model"``, ``"select_fields"``), ``compiler.annotation_col_map``,
    ``compiler.col_count``, ``compiler.get_converters(expressions)`` (position -> ``(converters, expression)``,
    each converter called as ``converter(value, expression, connection)``), and the module-level
    ``get_related_populators(klass_info, select, db)`` with ``RelatedPopulator.populate(row, obj)`` for
    ``select_related`` parents."""
    compiler = queryset.query.get_compiler(using=using)
    sql, params = compiler.as_sql()
    select, klass_info = compiler.select, compiler.klass_info
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    return CompiledRows(
        sql=sql,
        params=tuple(params),
        model=klass_info["model"],
        init_list=[column[0].target.attname for column in select[start:end]],
        start=start,
        end=end,
        populators=get_related_populators(klass_info, select, using),
        annotations=dict(compiler.annotation_col_map),
        converters=list(compiler.get_converters([column[0] for column in select[: compiler.col_count]]).items()),
    )


def server_binding_cursor(wrapper, cursor_class: type) -> Any:
    """A psycopg cursor of ``cursor_class`` on ``wrapper``'s connection, set up as the PostgreSQL backend's own
    ``DatabaseWrapper.create_cursor`` sets up an unnamed cursor: the connection's time zone loader, unless it
    disagrees with this database's time zone.

    A copy of the psycopg 3 branch of ``create_cursor`` in Django 5.2.19 (unchanged in 6.0); relies on
    ``django.db.backends.postgresql.base.TIMESTAMPTZ_OID``, ``psycopg_any.register_tzloader`` and
    ``DatabaseWrapper.timezone``."""
    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    cursor = cursor_class(wrapper.connection)
    tzloader = wrapper.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    if wrapper.timezone != tzloader.timezone:
        register_tzloader(wrapper.timezone, cursor)
    return cursor


def redis_servers(cache) -> list[str]:
    """The server URLs a ``RedisCache`` was configured with (LOCATION, split on ``;`` and ``,``), the first being
    the one it writes to.

    Relies on ``RedisCache._servers`` (set in ``RedisCache.__init__``; Django 5.2.19 and 6.0)."""
    return cache._servers


def redis_client(cache, *, write: bool = True):
    """The redis-py client behind Django's ``RedisCache`` (to register a Lua script on it).

    Relies on ``RedisCache._cache`` (a cached ``RedisCacheClient``) and ``RedisCacheClient.get_client(key=None,
    *, write=False)`` (Django 5.2.19 and 6.0)."""
    return cache._cache.get_client(write=write)


def output_stream(wrapper):
    """The stream under a management command's ``self.stdout``/``self.stderr`` (for a progress bar that writes
    carriage returns, which ``OutputWrapper.write`` would end with a newline).

    Relies on ``django.core.management.base.OutputWrapper._out`` (Django 5.2.19 and 6.0)."""
    return wrapper._out
