"""The change log: one append-only table that every change to the registry writes to, in the transaction that
makes the change. It is the audit trail (who changed what, when), the history behind aliases and point-in-time
answers, and the transactional outbox that webhooks are delivered from.

Write interface: ``record`` (one entry), ``record_many`` (many entries, one INSERT) or, for a set-based job on
PostgreSQL, ``appending`` (the entries written by the same statement that makes the change), called inside the
caller's ``transaction.atomic()``; a rolled-back write therefore leaves no entry, a committed one always has
one. Who acted is decided at record time: ``acting_as("job:retention")`` for jobs and commands, else the request
being served (the user of its API key or its admin session), else ``system``.

Why no library: django-pghistory records through PostgreSQL triggers, which gives completeness for free but does
not run on the embedded SQLite default, and it records row snapshots rather than the domain's actions
(``model.version_activated`` touches two rows; an alias move is one event). Signal-based libraries
(django-simple-history, django-auditlog) miss ``QuerySet.update`` and ``bulk_create``, which the registry uses
(activate clears the previous current version with one UPDATE; retention works set-based). Explicit calls from
the model methods, where each action is one place anyway, cover both databases and every write; the
done-when test enumerates the API's write operations so a new one without an entry fails the suite.

Append-only: nothing in the application edits or deletes entries (no admin change/delete, no API verb), and on
PostgreSQL triggers refuse UPDATE and DELETE (migration 0002) and TRUNCATE (migration 0013) on the table. TRUNCATE
has one allowance, for a database reset on purpose: a session that sets ``TRUNCATE_ALLOWANCE`` may empty the table
(the test suite sets it on its test database, whose flushes between tests TRUNCATE every table).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models
from django.utils import timezone

from kernel.rules.validation import same_json
from registry_project import tracing
from registry_project.private_apis.for_django import being_added, mark_saved
from registry_project.request_context import current_request_id

# Who acts, for entries recorded outside a request: a job or command names itself (``job:retention``,
# ``command:import_registry``). Inside a request the actor comes from the authenticated user / API key.
_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("changelog_actor", default=None)
# The request being served (set by ChangeActorMiddleware). DRF authenticates inside the view and writes the
# user and the API key back onto this Django request, so reading it at record time sees who authenticated.
_request: contextvars.ContextVar[Any] = contextvars.ContextVar("changelog_request", default=None)

# (setting, value): a session with this PostgreSQL setting may TRUNCATE the change log (migration 0013 holds the same
# literals); ``allow_truncate_in`` sets it for a test database.
TRUNCATE_ALLOWANCE = ("registry.changelog_truncate", "allowed")

ACTOR_MAX = 150
REQUEST_ID_MAX = 128


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


# Kinds whose entries only staff read (the API's change log and history): a webhook subscription's entries name
# where the registry sends its events, which is the subscribing staff's business, not every reader's.
STAFF_ONLY_KINDS = ("webhook",)


class ChangeLogQuerySet(models.QuerySet):
    def visible_to(self, user) -> ChangeLogQuerySet:
        if user is not None and user.is_active and user.is_staff:
            return self
        return self.exclude(kind__in=STAFF_ONLY_KINDS)

    def of_object(self, kind: str, name: str) -> ChangeLogQuerySet:
        return self.filter(kind=kind, name=name)

    def of_definition(self, definition) -> ChangeLogQuerySet:
        """A definition's entries (its versions', aliases' and its own) under every name it has had: entries keep
        the name of their moment (the log is append-only), and a rename is an entry ``<kind>.renamed`` with
        ``{"name": [before, after]}``, recorded under the new name with the definition's id. A name is the
        definition's only from the rename into it (or, for its first name, from the last time another definition
        was renamed away from it) until the rename out of it, so a name freed by a rename and taken again keeps
        each owner's history apart. One query over the (rare) rename entries; a second only for a renamed
        definition."""
        kind, pk = definition.kind, str(definition.pk)
        renames = ChangeLogEntry.objects.filter(action=f"{kind}.renamed", kind=kind).order_by("id")
        rows = list(
            renames.filter(models.Q(object_id=pk) | models.Q(changes__name__0=definition.name)).values_list(
                "id", "object_id", "changes"
            )
        )
        own = [(entry_id, changes) for entry_id, object_id, changes in rows if object_id == pk]
        first = own[0][1]["name"][0] if own else definition.name
        bounds = [entry_id for entry_id, _ in own]
        # The last rename away from the first name by another definition, before this one's first rename.
        if own:
            away = renames.filter(changes__name__0=first, id__lt=bounds[0]).exclude(object_id=pk)
            start = away.order_by("-id").values_list("id", flat=True).first()
        else:
            start = max((entry_id for entry_id, _, _ in rows), default=None)
        names = [first, *(changes["name"][1] for _, changes in own)]
        where = models.Q()
        for index, name in enumerate(names):
            period = models.Q(kind=kind, name=name)
            low = start if index == 0 else bounds[index - 1] - 1
            if low is not None:
                period &= models.Q(id__gt=low)
            if index < len(bounds):
                period &= models.Q(id__lt=bounds[index])
            where |= period
        return self.filter(where)

    def until(self, moment) -> ChangeLogQuerySet:
        """Entries committed at or before ``moment`` (point-in-time answers read the last one of these)."""
        return self.filter(at__lte=moment)

    def state_at(self, key: str, moment, **where) -> tuple[bool, Any]:
        """What the field ``key`` recorded as ``[before, after]`` in ``changes`` held at ``moment``: (found,
        value) from the last entry at or before it that changed ``key``. Entries are matched in the database by
        key presence (PostgreSQL ``?``, SQLite ``json_type``) and read newest first, so this is one short query."""
        entry = self.filter(**where).until(moment).filter(changes__has_key=key).order_by("-id").first()
        if entry is None:
            return False, None
        return True, entry.changes[key][1]


class ChangeLogEntry(models.Model):
    id = models.BigAutoField(primary_key=True)  # monotonic: the cursor of /api/v1/changes and of the outbox
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(
        max_length=ACTOR_MAX, help_text="user:<name>, api-key:<prefix>, job:<name>, command:<name> or system"
    )
    request_id = models.CharField(max_length=REQUEST_ID_MAX, blank=True, default="")
    action = models.CharField(max_length=64, help_text="<kind>.<verb>, e.g. model.version_activated, alias.moved")
    kind = models.CharField(max_length=32)
    name = models.CharField(max_length=128, blank=True, default="")
    version = models.CharField(max_length=128, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)

    objects = ChangeLogQuerySet.as_manager()

    class Meta:
        app_label = "registry_project"
        db_table = "registry_changelog"
        ordering = ("id",)
        verbose_name = "change-log entry"
        verbose_name_plural = "change log"
        indexes = [
            # An object's history and point-in-time answers: /{kind}/{name}/history, aliases ?at=.
            models.Index(fields=["kind", "name", "id"], name="registry_changelog_object"),
            models.Index(fields=["action", "id"], name="registry_changelog_action"),
            models.Index(fields=["actor", "id"], name="registry_changelog_actor"),
        ]

    def __str__(self) -> str:
        target = f"{self.kind} {self.name}" + (f"@{self.version}" if self.version else "")
        return f"#{self.id} {self.action} {target} by {self.actor}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not being_added(self):
            raise ValueError("Change-log entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Change-log entries are append-only.")

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "actor": self.actor,
            "request_id": self.request_id,
            "action": self.action,
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "object_id": self.object_id,
            "changes": self.changes,
        }


def spec_checksum(spec: Any) -> str:
    """``sha256:<hex>`` of the spec's canonical JSON: a registration entry names its spec without copying it."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def diff(before: dict, after: dict) -> dict[str, list]:
    """``{field: [before, after]}`` for the fields whose values differ, a field that one side leaves out (a
    definition-wide field cleared, or set for the first time) included, as ``None`` on that side."""
    keys = [*after, *(key for key in before if key not in after)]
    return {key: [before.get(key), after.get(key)] for key in keys if not same_json(before.get(key), after.get(key))}


def record(
    action: str, *, kind: str, name: str = "", version: str = "", object_id: Any = "", changes: dict | None = None
) -> None:
    """Append one entry in the caller's transaction."""
    record_many([Change(action, kind, name, version, str(object_id or ""), changes or {})])


def record_many(entries: Iterable[Change]) -> None:
    """Append many entries with one statement (bulk jobs), all with the same time, actor and request id. On
    PostgreSQL the listeners' set forms (the webhook outbox) run in that same statement, so a write's change log
    costs one round trip; elsewhere the listeners follow with their own queries."""
    now, actor, request_id = timezone.now(), current_actor(), _request_id()
    rows = [
        ChangeLogEntry(
            at=now,
            actor=actor,
            request_id=request_id,
            action=entry.action,
            kind=entry.kind,
            name=entry.name,
            version=entry.version,
            object_id=str(entry.object_id or ""),
            changes=entry.changes,
        )
        for entry in entries
    ]
    if not rows:
        return
    if connection.vendor == "postgresql":
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            _insert_with_set_forms(rows[start : start + _ROWS_PER_STATEMENT])
        entries_recorded(rows, set_forms_ran=True)
        return
    ChangeLogEntry.objects.bulk_create(rows)
    entries_recorded(rows)


_ROWS_PER_STATEMENT = 2000  # 9 parameters a row, well inside PostgreSQL's 65,535 a statement
_COLUMNS = ("at", "actor", "request_id", "action", "kind", "name", "version", "object_id", "changes")


def _insert_with_set_forms(rows: list[ChangeLogEntry]) -> None:
    """One statement: INSERT the entries ... RETURNING id, action as the CTE ``changelog_entries``, the listeners'
    set forms over it, and the new ids back (set on ``rows``, as ``bulk_create`` would). The values are prepared
    by the model's own fields, so they are stored exactly as ``bulk_create`` stores them."""
    fields = [ChangeLogEntry._meta.get_field(column) for column in _COLUMNS]
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = [field.get_db_prep_save(getattr(row, field.attname), connection) for row in rows for field in fields]
    items = [
        TRACE_ITEM,
        f"changelog_entries AS (INSERT INTO {ChangeLogEntry._meta.db_table} ({', '.join(_COLUMNS)})"
        f" VALUES {', '.join([placeholder] * len(rows))} RETURNING id, action)",
    ]
    items += _listener_items("changelog_entries")
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {', '.join(items)} SELECT id FROM changelog_entries", [tracing.current_traceparent(), *params]
        )
        ids = sorted(row[0] for row in cursor.fetchall())  # one statement's ids, in VALUES order
    for row, pk in zip(rows, ids):
        row.pk = pk
        mark_saved(row)


# The first WITH item of every appending statement: the trace context of the change (``""`` without tracing),
# which a set form reads as ``{traceparent}`` (the webhook outbox keeps it for the deliveries; a change-log entry
# itself does not store it).
TRACE_ITEM = "changelog_trace AS (SELECT %s::text AS traceparent)"
TRACEPARENT_SQL = "(SELECT traceparent FROM changelog_trace)"


def _listener_items(entries: str) -> list[str]:
    set_forms = [set_form for _, set_form in _listeners if set_form is not None]
    return [
        f"changelog_listener_{index} AS ({set_form().format(entries=entries, traceparent=TRACEPARENT_SQL)})"
        for index, set_form in enumerate(set_forms)
    ]


def appending(source: str, *, action: str, kind: str, stamped: bool = False) -> tuple[list[str], list]:
    """A set-based append for PostgreSQL, to splice into the caller's data-modifying statement: the ``WITH``
    items (``name AS (...)`` texts, in order) and their parameters that append one entry per row of ``source``, a
    SELECT yielding ``name``, ``version``, ``object_id`` (text) and ``changes`` (jsonb), in the order the entries
    should take. The rows never travel to Python, which is what makes a million entries affordable (building
    them as ``ChangeLogEntry`` objects cost more than the archiving itself). The listeners' set forms (the webhook
    outbox) join the same statement. ``stamped``: ``source`` also yields ``at``, the moment its write held the
    lock (a write that waits for a lock inside the statement must not be stamped with the time it was sent). The
    parameters start with the change's trace context (``TRACE_ITEM``), the items' first."""
    now, actor, request_id = timezone.now(), current_actor(), _request_id()
    table = ChangeLogEntry._meta.db_table
    items = [
        TRACE_ITEM,
        f"changelog_entries AS (INSERT INTO {table} (at, actor, request_id, action, kind, name, version, object_id, changes)"
        f" SELECT {'s.at' if stamped else '%s'}, %s, %s, %s, %s, s.name, s.version, s.object_id, s.changes FROM ({source}) s"
        " RETURNING id, action)",
    ]
    items += _listener_items("changelog_entries")
    return items, [tracing.current_traceparent(), *([] if stamped else [now]), actor, request_id, action, kind]


def entries_recorded(rows: list[ChangeLogEntry], *, set_forms_ran: bool = False) -> None:
    """Hook for what follows an append in the same transaction (the webhook outbox); nothing by default. Once the
    set forms ran in the appending statement, only the listeners without one are left to run."""
    for listener, set_form in _listeners:
        if not (set_forms_ran and set_form is not None):
            listener(rows)


_listeners: list[tuple] = []  # (listener, set_form or None)


def on_record(listener, *, set_form=None) -> None:
    """Run ``listener(rows)`` inside the transaction after every append (the webhook outbox registers here).
    ``set_form()`` is the listener for PostgreSQL, run in the appending statement itself: SQL over the CTE
    ``{entries}`` (the appended entries' ``id`` and ``action``) and ``{traceparent}`` (the change's trace context, a
    text), its decisions taken in SQL, so the listener costs no round trip of its own. Without a set form the listener runs after the INSERT, on every database."""
    if all(known is not listener for known, _ in _listeners):
        _listeners.append((listener, set_form))


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Entries recorded inside are attributed to ``actor`` (a job's or command's name)."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> str:
    """``acting_as``'s name, else the request's API key (``api-key:<prefix>``) or user (``user:<name>``), else
    ``system``."""
    explicit = _actor.get()
    if explicit:
        return explicit[:ACTOR_MAX]
    request = _request.get()
    if request is not None:
        auth = getattr(request, "auth", None)
        prefix = getattr(auth, "prefix", None)
        if prefix:
            return f"api-key:{prefix}"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.get_username()}"[:ACTOR_MAX]
        return "anonymous"
    return "system"


def _request_id() -> str:
    return (current_request_id() or "")[:REQUEST_ID_MAX]


class ChangeActorMiddleware:
    """Makes the request being served known to ``record`` (for its actor), for the request's duration."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def allow_truncate_in(database_connection) -> None:
    """Let ``database_connection``'s database be emptied by TRUNCATE, change log included (PostgreSQL; nothing to
    do elsewhere): for this session and every later one. Only for a database reset on purpose, such as the test
    database the suite flushes between tests (``tests/conftest.py``); never for the registry's own."""
    if database_connection.vendor != "postgresql":
        return
    setting, value = TRUNCATE_ALLOWANCE
    name = database_connection.ops.quote_name(database_connection.settings_dict["NAME"])
    with database_connection.cursor() as cursor:
        cursor.execute(f"ALTER DATABASE {name} SET {setting} = '{value}'")
        cursor.execute(f"SET {setting} = '{value}'")
