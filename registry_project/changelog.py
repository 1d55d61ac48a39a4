"""The change log's write interface: every change to the registry appends one entry through ``record`` (or
``record_many`` for set-based jobs), inside the transaction that makes the change.

Until the change log itself is built (issue 9: the append-only table, ``/api/v1/changes``, aliases, webhooks),
these are the clearly named hooks every write path already calls; they record nothing yet. The signatures are
the contract the table will be built behind.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# Who acts, for entries recorded outside a request: a job or command names itself (``job:retention``,
# ``command:import_registry``). Inside a request the actor comes from the authenticated user / API key.
_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("changelog_actor", default=None)


@dataclass
class Change:
    """One entry to append. ``action`` is ``<kind>.<verb>`` (``model.version_registered``, ``binding.degraded``,
    ``retention.applied``); ``changes`` holds before/after of mutable fields (``{"status": ["active",
    "archived"]}``) or, for a registration, the spec's checksum, never a copy of the spec."""

    action: str
    kind: str
    name: str = ""
    version: str = ""
    object_id: str = ""
    changes: dict[str, Any] = field(default_factory=dict)


def record(action: str, *, kind: str, name: str = "", version: str = "", object_id: Any = "", changes: dict | None = None) -> None:
    """Append one entry in the caller's transaction (hook: records nothing until the change log exists)."""
    record_many([Change(action, kind, name, version, str(object_id or ""), changes or {})])


def record_many(entries: Iterable[Change]) -> None:
    """Append many entries with one statement (bulk jobs). Hook: records nothing until the change log exists."""
    for _ in entries:
        pass


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Entries recorded inside are attributed to ``actor`` (a job's or command's name)."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> str | None:
    return _actor.get()
