"""opentelemetry-instrumentation-psycopg's private API, behind one function. Read in 0.66b2.

The instrumentation traces the cursors a connection makes through its ``cursor_factory`` (it wraps
``psycopg.connect``). The hot path's prepared statements use a cursor class of their own, built directly on the
connection (``registry_project/db``), which that wrapping never sees."""

from __future__ import annotations


def trace_prepared_cursors(tracer_provider) -> None:
    """Have ``registry_project.db``'s prepared cursors make a span per statement, as every other cursor does.

    Relies on ``opentelemetry.instrumentation.psycopg._new_cursor_factory(base_factory=..., tracer_provider=...)``
    returning a subclass of ``base_factory`` whose ``execute`` is traced (0.66b2)."""
    from opentelemetry.instrumentation.psycopg import _new_cursor_factory

    from registry_project.db import base

    base.DatabaseWrapper.preparing_cursor_class = _new_cursor_factory(
        base_factory=base.PreparingCursor, tracer_provider=tracer_provider
    )
