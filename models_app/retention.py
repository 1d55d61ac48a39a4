"""Retention over the whole registry, set-based.

A run walks the live models in batches of ``RETENTION_BATCH_MODELS`` (keyset order by id). For each batch, in
one transaction:

1. lock the batch's model rows (``SELECT ... FOR UPDATE``, id order), as every lifecycle move of a version does,
   so no activation or registration interleaves with the archiving;
2. one window-function query ranks the batch's unarchived releases per model and returns those past ``keep``;
3. one query per guard (``registry_project.dependencies.protected_ids``) says which of them are protected;
4. bulk ``UPDATE`` archives the rest (status ``archived``, tier ``cold``, ``archived_at``) and the change log
   gets one entry per version through ``record_many``.

Then the purge: archived versions older than ``RETENTION_PURGE_AFTER_DAYS`` get ``delete_stored_artifacts()``
(outside any transaction: it is I/O), and only those whose artifacts are gone become tombstones. A failure
leaves the version archived and is reported; the next run tries again (the hook is idempotent).

Two runs at once serialise on a PostgreSQL advisory lock (the second then finds nothing left to do); without it
the row locks and the conditional updates would still make the outcome that of one run. A run killed midway
has committed whole batches only, so a redelivered run finishes the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from models_app.choices import StorageTier
from registry_project import changelog
from registry_project.definitions import Lifecycle
from registry_project.dependencies import dependents_of, protected_ids

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
    counts: dict[str, int] = field(default_factory=lambda: {"archived": 0, "protected": 0, "purged": 0, "purge_failed": 0, "models": 0})

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
            "truncated": any(self.counts[k] > len(getattr(self, k)) for k in ("archived", "protected", "purged", "purge_failed")),
        }

    def summary(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, **self.counts}


def _item(row: dict, name: str) -> dict:
    return {"id": str(row["pk"]), "name": name, "version": row["version"]}


@contextmanager
def run_lock(take: bool) -> Iterator[None]:
    """Serialise runs across processes and hosts with a session-level advisory lock (PostgreSQL). A killed run's
    connection closes and releases it. SQLite serialises writers itself; the embedded default needs nothing."""
    if not take or connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


def tombstone_spec(spec: dict) -> dict:
    """A purged version keeps its number (the row) and its checksum; the rest of the spec goes."""
    artifact = spec.get("artifact") if isinstance(spec, dict) else None
    checksum = artifact.get("checksum") if isinstance(artifact, dict) else None
    return {"artifact": {"checksum": checksum}} if checksum else {}


class Retention:
    def __init__(self, models, *, keep: int | None, dry_run: bool, report_limit: int | None, progress: Callable[[int], None] | None = None):
        from models_app.models import ModelVersion

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
            for model_ids in self._batches():
                batch = self.models.filter(pk__in=model_ids).order_by("pk").values_list("pk", "name")
                if self.dry_run:
                    self._archive_batch(dict(batch))
                else:
                    with transaction.atomic():
                        self._archive_batch(dict(batch.select_for_update()))
                self.report.counts["models"] += len(model_ids)
                self.progress(len(model_ids))
            if purge:
                self._purge()
            if not self.dry_run:
                self._finish()
        return self.report

    def outlook(self) -> dict[str, int]:
        """Counts of what a run would do now, in a few aggregate queries over the whole set (no batches)."""
        candidates = self.versions.filter(model__in=self.models).beyond_retention(self.keep)
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

    def _batches(self) -> Iterator[list[int]]:
        size = settings.RETENTION_BATCH_MODELS
        last = 0
        while True:
            ids = list(self.models.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size])
            if not ids:
                return
            yield ids
            last = ids[-1]

    # -- archiving -------------------------------------------------------------------------------------------

    def _archive_batch(self, names: dict[int, str]) -> None:
        """``names``: the batch's model ids and names (locked by the caller unless this is a dry run)."""
        if not names:
            return
        scope = self.versions.filter(model_id__in=list(names))
        candidates = list(scope.ranked_beyond_retention(self.keep).values("pk", "model_id", "version", "is_current", "status"))
        if not candidates:
            return
        guarded = protected_ids(scope.exclude(status=Lifecycle.ARCHIVED).filter(is_current=False))
        archive, entries = [], []
        for row in candidates:
            name = names[row["model_id"]]
            if row["is_current"]:
                if self.report.count("protected"):
                    self.report.protected.append({**_item(row, name), "reasons": ["current version"]})
            elif row["pk"] in guarded:
                if self.report.count("protected"):
                    # The reason is for people: ask the per-object guards, only for the versions reported.
                    version = self.versions.select_related("model").get(pk=row["pk"])
                    self.report.protected.append({**_item(row, name), "reasons": sorted(dependents_of(version))})
            else:
                archive.append(row["pk"])
                if self.report.count("archived"):
                    self.report.archived.append(_item(row, name))
                entries.append(
                    changelog.Change(
                        "model.version_archived", "model", name, row["version"], str(row["pk"]),
                        {"status": [row["status"], Lifecycle.ARCHIVED], "storage_tier": [StorageTier.HOT, StorageTier.COLD]},
                    )
                )
        if self.dry_run or not archive:
            return
        archived = 0
        for start in range(0, len(archive), UPDATE_CHUNK):
            archived += (
                self.versions.filter(pk__in=archive[start : start + UPDATE_CHUNK], is_current=False)
                .exclude(status=Lifecycle.ARCHIVED)
                .update(status=Lifecycle.ARCHIVED, storage_tier=StorageTier.COLD, archived_at=self.now, updated_at=self.now)
            )
        changelog.record_many(entries)
        from models_app.models import RetentionTotals

        RetentionTotals.add(archived=archived)

    # -- purging ---------------------------------------------------------------------------------------------

    def _purge_due(self):
        cutoff = self.now - timedelta(days=settings.RETENTION_PURGE_AFTER_DAYS)
        return self.versions.filter(
            model__in=self.models, status=Lifecycle.ARCHIVED, purged_at__isnull=True, archived_at__isnull=False, archived_at__lte=cutoff
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
                    self.report.add("purged", {"id": str(version.pk), "name": version.model.name, "version": version.version})
                continue
            gone = []
            for version in batch:
                try:
                    version.delete_stored_artifacts()
                except Exception as exc:  # any storage failure: keep the row archived, report it, go on
                    logger.warning("retention: could not delete the artifacts of %s", version, exc_info=True)
                    self.report.add("purge_failed", {"id": str(version.pk), "name": version.model.name, "version": version.version, "error": str(exc)[:500]})
                else:
                    gone.append(version)
            self._tombstone(gone)

    def _tombstone(self, versions: list) -> None:
        from models_app.models import RetentionTotals

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
                        "model.version_purged", "model", version.model.name, row.version, str(row.pk),
                        {"storage_tier": [StorageTier.COLD, StorageTier.PURGED]},
                    )
                )
            self.versions.bulk_update(list(rows.values()), ["spec", "purged_at", "storage_tier", "updated_at"])
            changelog.record_many(entries)
            RetentionTotals.add(purged=len(rows))

    def _finish(self) -> None:
        from models_app.models import RetentionTotals

        with transaction.atomic():
            if self.report.counts["purge_failed"]:
                RetentionTotals.add(purge_failures=self.report.counts["purge_failed"])
            RetentionTotals.finish_run(self.report.summary())
            changelog.record("retention.applied", kind="retention", changes=self.report.summary())
