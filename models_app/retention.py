"""Retention over the whole registry, set-based.

A run walks the live models in keyset order, ``RETENTION_BATCH_MODELS`` at a time, and reads for each batch which
models have a live release (unarchived, not a prerelease) past their ``keep``: a count per model over the partial
index ``models_app_version_live`` (``ModelQuerySet.with_retention_keep``), a few index entries per model. Only
those models are worked on; after a run that is the few whose current or protected versions are past ``keep``, so
a run with nothing to do costs one cheap read per batch. For each batch with work, in one transaction:

1. lock those model rows (``SELECT ... FOR UPDATE``, id order), as every lifecycle move of a version does, so no
   activation or registration interleaves with the archiving;
2. one query per guard (``kernel.rules.dependencies.protected_ids``) says which of their live releases are
   protected (a small set: its ids go back as one ``uuid[]`` parameter);
3. on PostgreSQL, one statement does the rest: per model (``LATERAL``), the live-release index newest first,
   ``OFFSET keep``, gives the candidates (a CTE; no window over every version), ``UPDATE ... FROM`` it by
   ``ctid`` archives the unprotected ones (status ``archived``, tier ``cold``, ``archived_at``) ``RETURNING``
   them, and an ``INSERT ... SELECT`` from that appends one change-log entry each (``changelog.appending``, with
   the webhook outbox's items when an active subscription wants them). Only the counts and the report's first
   items come back to Python: building a million entries as objects, and quoting a million ids as parameters,
   had cost more than the archiving. Elsewhere (the embedded SQLite default) a window query ranks the batch's
   releases, and the candidates come to Python and are archived by chunked ``UPDATE``s and one ``record_many``.

The batch's statements run with PostgreSQL's JIT off (``no_jit``): its estimates for them are large enough to
trigger compilation, which cost more than executing them. Id lists go as one array parameter, not one parameter
per id. A batch's number of queries does not depend on how many versions it archives (tested).

Then the purge: archived versions older than ``RETENTION_PURGE_AFTER_DAYS`` get ``delete_stored_artifacts()``
(outside any transaction: it is I/O), and only those whose artifacts are gone become tombstones. A failure
leaves the version archived and is reported; the next run tries again (the hook is idempotent).

Two runs at once serialise on a PostgreSQL advisory lock (the second then finds nothing left to do); without it
the row locks and the conditional updates would still make the outcome that of one run. A run killed midway
has committed whole batches only, so a redelivered run finishes the job.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.models.expressions import RawSQL
from django.utils import timezone

from kernel.choices import Lifecycle
from kernel.models import changelog
from kernel.rules.dependencies import dependents_of, protected_ids
from models_app.choices import StorageTier
from models_app.models import ModelVersion, RetentionTotals
from registry_project.db import sessions_outlive_transactions

logger = logging.getLogger(__name__)

ACTOR = "job:retention"
# pg_advisory_lock key: "retn" in ASCII. Any fixed number unique within the registry's database will do.
ADVISORY_LOCK_KEY = 0x7265746E
UPDATE_CHUNK = 5000  # primary keys per UPDATE ... WHERE id IN (...), well under the 65,535 bind parameters
PURGE_BATCH = 500


@dataclass
class RetentionReport:
    """What a run archived and purged (or, dry, would), what it kept and why. The lists hold at most
    ``report_limit`` items each (None: all); the counts are always complete."""

    dry_run: bool
    keep: int | None
    report_limit: int | None = 100
    archived: list[dict] = field(default_factory=list)
    protected: list[dict] = field(default_factory=list)
    purged: list[dict] = field(default_factory=list)
    purge_failed: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"archived": 0, "protected": 0, "purged": 0, "purge_failed": 0, "models": 0}
    )

    def add(self, kind: str, item: dict) -> bool:
        """Count an item; keep it in the list while there is room. True when kept (the caller may enrich it)."""
        if self.count(kind):
            getattr(self, kind).append(item)
            return True
        return False

    def count(self, kind: str) -> bool:
        """Count an item; True when the list has room for it (build the item only then: a run counts millions)."""
        self.counts[kind] += 1
        return self.report_limit is None or len(getattr(self, kind)) < self.report_limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "keep": self.keep,
            "counts": dict(self.counts),
            "archived": self.archived,
            "protected": self.protected,
            "purged": self.purged,
            "purge_failed": self.purge_failed,
            "truncated": any(
                self.counts[k] > len(getattr(self, k)) for k in ("archived", "protected", "purged", "purge_failed")
            ),
        }

    def summary(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, **self.counts}


def _item(row: dict, name: str) -> dict:
    return {"id": str(row["pk"]), "name": name, "version": row["version"]}


def _uuid_array(ids) -> str:
    """A ``uuid[]`` literal: one parameter, however many ids (quoting each as its own parameter costs more)."""
    return "{" + ",".join(str(pk) for pk in ids) + "}"


def _among(ids: list[int]):
    """The right-hand side of ``pk__in`` for a batch's model ids: on PostgreSQL one ``bigint[]`` parameter
    (``unnest``), not one parameter per id; elsewhere the list."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", ["{" + ",".join(str(pk) for pk in ids) + "}"])
    return ids


def _json(value) -> list:
    return json.loads(value) if isinstance(value, str) else value


@contextmanager
def run_lock(take: bool) -> Iterator[None]:
    """Serialise runs across processes and hosts with a session-level advisory lock (PostgreSQL). A killed run's
    connection closes and releases it. SQLite serialises writers itself; the embedded default needs nothing.
    Behind PgBouncer in transaction mode no lock is taken: the unlock could run in another server session and
    leave the lock held for good; the row locks and conditional updates keep two runs' outcome that of one."""
    if not take or connection.vendor != "postgresql" or not sessions_outlive_transactions(connection):
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


@contextmanager
def no_jit() -> Iterator[None]:
    """A transaction whose statements run without PostgreSQL's JIT (``SET LOCAL``, so it ends with it). The
    planner's cost estimates for retention's statements exceed ``jit_above_cost``, and compiling them took longer
    than running them (seconds per batch under load, for statements that execute in milliseconds)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield


def tombstone_spec(spec: dict) -> dict:
    """A purged version keeps its number (the row) and its checksum; the rest of the spec goes."""
    artifact = spec.get("artifact") if isinstance(spec, dict) else None
    checksum = artifact.get("checksum") if isinstance(artifact, dict) else None
    return {"artifact": {"checksum": checksum}} if checksum else {}


class Retention:
    def __init__(
        self,
        models,
        *,
        keep: int | None,
        dry_run: bool,
        report_limit: int | None,
        progress: Callable[[int], None] | None = None,
    ):
        self.models = models.alive()
        self.versions = ModelVersion.objects
        self.keep = keep
        self.dry_run = dry_run
        self.report = RetentionReport(dry_run=dry_run, keep=keep, report_limit=report_limit)
        self.progress = progress or (lambda n: None)
        self.now = timezone.now()

    # -- the run ---------------------------------------------------------------------------------------------

    def run(self, *, purge: bool = True) -> RetentionReport:
        # A run someone asked for (API key, user, command) is theirs in the log; otherwise (beat) the job's.
        actor = changelog.current_actor()
        with changelog.acting_as(ACTOR if actor == "system" else actor), run_lock(take=not self.dry_run):
            for walked, due in self._batches():
                if due:
                    with no_jit():
                        batch = self.models.filter(pk__in=_among(due)).order_by("pk").values_list("pk", "name")
                        self._archive_batch(dict(batch if self.dry_run else batch.select_for_update()))
                self.report.counts["models"] += walked
                self.progress(walked)
            if purge:
                self._purge()
            if not self.dry_run:
                self._finish()
        return self.report

    def outlook(self) -> dict[str, int]:
        """Counts of what a run would do now, over the whole set (no batches): on PostgreSQL one statement over
        the models that have a release past ``keep`` (the runs' cheap count, then their ``OFFSET keep`` probe)
        plus one query per guard (the statistics snapshot stores the result, see ``models_app.stats``);
        elsewhere a few ORM counts."""
        scope = self.versions.filter(model__in=self.models)
        if connection.vendor == "postgresql":
            with no_jit():
                guarded = protected_ids(scope.live_releases().filter(is_current=False))
                due = self.models.with_retention_keep(self.keep).filter(_live__gt=F("_keep"))
                candidates, params = self._candidates(due)
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"WITH candidates AS ({candidates}) SELECT count(*) FILTER (WHERE is_current),"
                        " count(*) FILTER (WHERE NOT is_current AND pk = ANY(%s::uuid[])), count(*) FROM candidates",
                        [*params, _uuid_array(guarded)],
                    )
                    current, protected, total = cursor.fetchone()
            return {
                "would_archive": total - current - protected,
                "would_keep_current": current,
                "would_keep_protected": protected,
                "would_purge": self._purge_due().count(),
            }
        candidates = scope.beyond_retention(self.keep)
        current = candidates.filter(is_current=True).count()
        others = candidates.filter(is_current=False)
        total = others.count()
        guarded = len(protected_ids(others))
        return {
            "would_archive": total - guarded,
            "would_keep_current": current,
            "would_keep_protected": guarded,
            "would_purge": self._purge_due().count(),
        }

    def _batches(self) -> Iterator[tuple[int, list[int]]]:
        """Walk the models in id order, ``RETENTION_BATCH_MODELS`` at a time: how many were walked, and the ids of
        those with more live releases than they keep (the only ones retention has anything to do for)."""
        size = settings.RETENTION_BATCH_MODELS
        models = self.models.with_retention_keep(self.keep).order_by("pk")
        last = 0
        while True:
            rows = list(models.filter(pk__gt=last).values_list("pk", "_live", "_keep")[:size])
            if not rows:
                return
            yield len(rows), [pk for pk, live, keep in rows if live > keep]
            last = rows[-1][0]

    def _candidates(self, models) -> tuple[str, list]:
        """PostgreSQL: the live releases past ``keep`` of ``models`` (a queryset annotated by
        ``with_retention_keep``), with their ``ctid``: per model, the ``models_app_version_live`` index read newest
        first from entry ``keep`` on (``LATERAL ... OFFSET``). The same rows as ``ranked_beyond_retention`` (tested
        against each other), without ranking the versions that are kept."""
        models_sql, params = models.order_by().values("id", "name", "_keep").query.sql_with_params()
        table = self.versions.model._meta.db_table
        # The status as a literal, not a parameter: the planner matches the partial index's predicate in any plan.
        sql = (
            f"SELECT v.*, m.id AS model_id, m.name FROM ({models_sql}) m CROSS JOIN LATERAL ("
            "SELECT v.ctid, v.id AS pk, v.version, v.major, v.minor, v.patch, v.is_current, v.status, v.storage_tier"
            f" FROM {table} v WHERE v.model_id = m.id AND v.prerelease = '' AND NOT (v.status = '{Lifecycle.ARCHIVED}')"
            " ORDER BY v.major DESC, v.minor DESC, v.patch DESC OFFSET m._keep) v"
        )
        return sql, list(params)

    # -- archiving -------------------------------------------------------------------------------------------

    def _archive_batch(self, names: dict[int, str]) -> None:
        """``names``: the ids and names of the batch's models with work (locked by the caller unless dry)."""
        if not names:
            return
        scope = self.versions.filter(model_id__in=_among(list(names)))
        guarded = protected_ids(scope.live_releases().filter(is_current=False))
        if connection.vendor == "postgresql":
            due = self.models.with_retention_keep(self.keep).filter(pk__in=_among(list(names)))
            self._archive_in_one_statement(due, guarded, names)
        else:
            candidates = (
                scope.ranked_beyond_retention(self.keep)
                .order_by()
                .values("pk", "model_id", "version", "is_current", "status", "storage_tier", "major", "minor", "patch")
            )
            self._archive_row_by_row(candidates, guarded, names)

    def _protect(self, row: dict, name: str) -> None:
        """Report a candidate that is kept (the caller has counted it and the list has room)."""
        if row["is_current"]:
            reasons = ["current version"]
        else:
            # The reason is for people: ask the per-object guards, only for the versions reported.
            reasons = sorted(dependents_of(self.versions.select_related("model").get(pk=row["pk"])))
        self.report.protected.append({**_item(row, name), "reasons": reasons})

    def _room(self, kind: str) -> int | None:
        limit = self.report.report_limit
        return None if limit is None else max(0, limit - len(getattr(self.report, kind)))

    def _archive_in_one_statement(self, models, guarded: set, names: dict[int, str]) -> None:
        """PostgreSQL: find, archive, log (and the outbox) in one statement; only counts and the report's first
        items come back. Rows are found by ``ctid`` (a TID scan, cheaper than the primary key's index) and id, and
        archived only as read (same status and tier, not current; on a row changed since the snapshot,
        PostgreSQL rechecks these on its newest version): under the batch's model locks nothing else moves them,
        and if something did, the next run would take them."""
        candidates, params = self._candidates(models)
        guarded_array = _uuid_array(guarded)
        kept = "(c.is_current OR c.pk = ANY(%s::uuid[]))"
        newest_first = "model_id, major DESC, minor DESC, patch DESC"
        items = [f"candidates AS ({candidates})"]
        if self.dry_run:
            items.append(
                f"archived AS (SELECT c.pk AS id, c.model_id, c.version, c.major, c.minor, c.patch FROM candidates c WHERE NOT {kept})"
            )
            params.append(guarded_array)
        else:
            items.append(
                f"archived AS (UPDATE {self.versions.model._meta.db_table} v"
                " SET status = %s, storage_tier = %s, archived_at = %s, updated_at = %s FROM candidates c"
                f" WHERE v.ctid = c.ctid AND v.id = c.pk AND NOT {kept} AND v.status = c.status AND v.storage_tier = c.storage_tier"
                " AND NOT v.is_current RETURNING v.id, v.model_id, c.name, v.version, v.major, v.minor, v.patch,"
                " c.status AS status_before, c.storage_tier AS tier_before)"
            )
            params += [Lifecycle.ARCHIVED, StorageTier.COLD, self.now, self.now, guarded_array]
            log, log_params = changelog.appending(
                "SELECT a.name, a.version, a.id::text AS object_id,"
                " jsonb_build_object('status', jsonb_build_array(a.status_before, %s::text),"
                " 'storage_tier', jsonb_build_array(a.tier_before, %s::text)) AS changes"
                f" FROM archived a ORDER BY a.{newest_first.replace(', ', ', a.')}",
                action="model.version_archived",
                kind="model",
            )
            items += log
            params += log_params + [Lifecycle.ARCHIVED, StorageTier.COLD]
        sql = (
            "WITH " + ", ".join(items) + " SELECT"
            " (SELECT count(*) FROM archived),"
            f" (SELECT count(*) FROM candidates c WHERE {kept}),"
            " (SELECT coalesce(jsonb_agg(jsonb_build_array(x.id::text, x.model_id, x.version)), '[]')"
            f"  FROM (SELECT * FROM archived ORDER BY {newest_first} LIMIT %s) x),"
            " (SELECT coalesce(jsonb_agg(jsonb_build_array(x.pk::text, x.model_id, x.version, x.is_current)), '[]')"
            f"  FROM (SELECT * FROM candidates c WHERE {kept} ORDER BY {newest_first} LIMIT %s) x)"
        )
        params += [guarded_array, self._room("archived"), guarded_array, self._room("protected")]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            archived, protected, archived_items, protected_items = cursor.fetchone()
        self.report.counts["archived"] += archived
        self.report.counts["protected"] += protected
        for pk, model_id, version in _json(archived_items):
            self.report.archived.append({"id": pk, "name": names[model_id], "version": version})
        for pk, model_id, version, is_current in _json(protected_items):
            self._protect({"pk": pk, "version": version, "is_current": is_current}, names[model_id])
        if archived and not self.dry_run:
            RetentionTotals.add(archived=archived)

    def _archive_row_by_row(self, candidates, guarded: set, names: dict[int, str]) -> None:
        """Other databases (the embedded SQLite default): the candidates come to Python, the archiving is one
        UPDATE per chunk of ids and the log one INSERT per batch."""
        archive, entries = [], []
        for row in candidates:
            name = names[row["model_id"]]
            if row["is_current"] or row["pk"] in guarded:
                if self.report.count("protected"):
                    self._protect(row, name)
                continue
            archive.append(row["pk"])
            if self.report.count("archived"):
                self.report.archived.append(_item(row, name))
            entries.append(
                changelog.Change(
                    "model.version_archived",
                    "model",
                    name,
                    row["version"],
                    str(row["pk"]),
                    {
                        "status": [row["status"], Lifecycle.ARCHIVED],
                        "storage_tier": [row["storage_tier"], StorageTier.COLD],
                    },
                )
            )
        if self.dry_run or not archive:
            return
        archived = 0
        for start in range(0, len(archive), UPDATE_CHUNK):
            archived += (
                self.versions.filter(pk__in=archive[start : start + UPDATE_CHUNK], is_current=False)
                .exclude(status=Lifecycle.ARCHIVED)
                .update(
                    status=Lifecycle.ARCHIVED, storage_tier=StorageTier.COLD, archived_at=self.now, updated_at=self.now
                )
            )
        changelog.record_many(entries)
        RetentionTotals.add(archived=archived)

    # -- purging ---------------------------------------------------------------------------------------------

    def _purge_due(self):
        cutoff = self.now - timedelta(days=settings.RETENTION_PURGE_AFTER_DAYS)
        return self.versions.filter(
            model__in=self.models,
            status=Lifecycle.ARCHIVED,
            purged_at__isnull=True,
            archived_at__isnull=False,
            archived_at__lte=cutoff,
        )

    def _purge(self) -> None:
        due = self._purge_due().select_related("model").order_by("pk")
        last = None
        while True:
            batch = list((due.filter(pk__gt=last) if last else due)[:PURGE_BATCH])
            if not batch:
                return
            last = batch[-1].pk
            if self.dry_run:
                for version in batch:
                    self.report.add(
                        "purged", {"id": str(version.pk), "name": version.model.name, "version": version.version}
                    )
                continue
            gone = []
            for version in batch:
                try:
                    version.delete_stored_artifacts()
                except Exception as exc:  # any storage failure: keep the row archived, report it, go on
                    logger.warning("retention: could not delete the artifacts of %s", version, exc_info=True)
                    self.report.add(
                        "purge_failed",
                        {
                            "id": str(version.pk),
                            "name": version.model.name,
                            "version": version.version,
                            "error": str(exc)[:500],
                        },
                    )
                else:
                    gone.append(version)
            self._tombstone(gone)

    def _tombstone(self, versions: list) -> None:
        if not versions:
            return
        with transaction.atomic():
            # Re-read under a row lock: only rows still archived and not yet purged become tombstones.
            rows = {
                v.pk: v
                for v in self.versions.select_for_update().filter(
                    pk__in=[v.pk for v in versions], status=Lifecycle.ARCHIVED, purged_at__isnull=True
                )
            }
            entries = []
            for version in versions:
                row = rows.get(version.pk)
                if row is None:
                    continue
                row.spec = tombstone_spec(row.spec)
                row.purged_at = self.now
                row.storage_tier = StorageTier.PURGED
                row.updated_at = self.now
                self.report.add("purged", {"id": str(row.pk), "name": version.model.name, "version": row.version})
                entries.append(
                    changelog.Change(
                        "model.version_purged",
                        "model",
                        version.model.name,
                        row.version,
                        str(row.pk),
                        {"storage_tier": [StorageTier.COLD, StorageTier.PURGED]},
                    )
                )
            self.versions.bulk_update(list(rows.values()), ["spec", "purged_at", "storage_tier", "updated_at"])
            changelog.record_many(entries)
            RetentionTotals.add(purged=len(rows))

    def _finish(self) -> None:
        with transaction.atomic():
            if self.report.counts["purge_failed"]:
                RetentionTotals.add(purge_failures=self.report.counts["purge_failed"])
            RetentionTotals.finish_run(self.report.summary())
            changelog.record("retention.applied", kind="retention", changes=self.report.summary())
