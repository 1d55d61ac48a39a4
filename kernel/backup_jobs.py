"""Scheduled backups that are known to restore (the beat jobs ``kernel.tasks.backup_registry`` and
``kernel.tasks.check_restore``; the commands ``backup_registry`` and ``check_restore`` run the same functions).

``take_backup`` writes the export (``kernel.backup``, gzip-compressed) to the artifact storage, filesystem or S3,
under ``BACKUP_PREFIX/registry-<UTC time>-<id>.jsonl.gz``, records a ``Backup`` row (stored size and SHA-256, the
export's counts and trailer digest, and a census of the live registry) and deletes the backups past the newest
``BACKUP_KEEP``. On PostgreSQL the export and the census read one REPEATABLE READ snapshot, so they describe the
same moment even while writes go on.

``check_restore`` fetches the newest backup and

1. compares the stored bytes with the size and SHA-256 recorded when it was written (a damaged or edited file stops
   here);
2. loads it into an empty scratch database with the operator's own commands, in a child process
   (``load_backup_into_scratch``: ``migrate``, then ``import_registry``'s import, which checks the trailer and every
   row), so a backup that only this process could read would not pass;
3. compares the restored registry with the live registry *as of the backup*: the census recorded in the same
   snapshot as the export (rows of every table the export covers, the change log's count, last id and digest),
   and re-exports it, which must give the export's bytes again (its trailer digest).

The live registry moves on after a backup, so comparing with it now would report every registration since as a
difference; the census taken with the export is the live registry at the backup's moment. Any difference sets
``registry_restore_check_ok`` to 0, counts a failure of the job, and writes a ``backup.restore_check_failed``
change-log entry (so subscribers to ``backup.*`` hear of it); a match writes ``backup.restore_checked``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.files import File
from django.db import connection, transaction
from django.utils import timezone

from kernel import backup
from kernel.models import Backup
from kernel.models.changelog import ChangeLogEntry, acting_as, record

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
# Problems reported per check (each one line); the rest are counted.
MAX_PROBLEMS = 20


class RestoreCheckFailed(Exception):
    """The newest backup did not restore, or what it restored differs from what it held when it was taken."""


def storage():
    """Backups live in the artifact storage (its location and credentials are the operator's already)."""
    from models_app.artifacts.storage import artifact_storage

    return artifact_storage()


# -- census: the registry as a backup holds it -------------------------------------------------------------------


def _querysets_of(part) -> Iterator[tuple[str, object]]:
    """(label, queryset) of every table a backup section exports."""
    if hasattr(part, "parts"):  # SectionGroup
        for inner in part.parts.values():
            yield from _querysets_of(inner)
    elif hasattr(part, "definition_model"):  # DefinitionSection
        for model in (part.definition_model, part.version_model):
            yield model._meta.label_lower, model.objects.all()
    else:  # RowsSection
        queryset = part.queryset if part.queryset is not None else part.model.objects.all()
        yield part.model._meta.label_lower, queryset


def census() -> dict:
    """Rows of every table the export covers, and the change log's count, last id and SHA-256 (its entries in id
    order, each as the API shows it): counted from the tables, not from an export file."""
    rows = {}
    for module in backup.sections():
        for label, queryset in _querysets_of(module.section()):
            rows[label] = queryset.count()
    digest, count, last = hashlib.sha256(), 0, 0
    for entry in ChangeLogEntry.objects.order_by("id").iterator(chunk_size=2000):
        digest.update((backup.dumps(entry.as_dict()) + "\n").encode())
        count, last = count + 1, entry.id
    return {"rows": rows, "changes": {"count": count, "last_id": last, "sha256": digest.hexdigest()}}


@contextmanager
def one_snapshot() -> Iterator[None]:
    """A read-only transaction whose reads all see one moment (PostgreSQL's REPEATABLE READ); SQLite's transaction
    already reads one state. Inside a caller's transaction (a test's), that transaction's view is the one read."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def export_file(path: str) -> tuple[dict, str, dict]:
    """Write the export to ``path`` (gzip when it ends in .gz); (counts, trailer sha256, census), one snapshot."""
    with one_snapshot(), backup.open_export(path, "w") as out:
        counts = backup.export_registry(out)
        found = census()
    return counts, trailer_of(path)["sha256"], found


def trailer_of(path: str) -> dict:
    last = ""
    with backup.open_export(path, "r") as lines:
        for last in lines:  # noqa: B007 (the last line is the trailer)
            pass
    return json.loads(last)["trailer"]


def file_digest(stream) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


# -- the backup job ------------------------------------------------------------------------------------------------


def new_key(now) -> str:
    return f"{settings.BACKUP_PREFIX}/registry-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}.jsonl.gz"


def take_backup() -> Backup:
    """Export the registry to the artifact storage, record it, and delete the backups past ``BACKUP_KEEP``."""
    started, now = time.monotonic(), timezone.now()
    with tempfile.TemporaryDirectory(prefix="registry-backup-") as folder:
        path = os.path.join(folder, "registry.jsonl.gz")
        counts, export_sha256, found = export_file(path)
        with open(path, "rb") as stream:
            size, sha256 = file_digest(stream)
            stream.seek(0)
            key = storage().save(new_key(now), File(stream))
    with transaction.atomic(), acting_as("job:backup"):
        taken = Backup.objects.create(
            key=key,
            taken_at=now,
            duration_seconds=time.monotonic() - started,
            size_bytes=size,
            sha256=sha256,
            export_sha256=export_sha256,
            counts=counts,
            census=found,
        )
        record(
            "backup.taken",
            kind="backup",
            name=key,
            object_id=taken.pk,
            changes={"size_bytes": size, "sha256": sha256, "counts": counts},
        )
    prune(settings.BACKUP_KEEP)
    return taken


def prune(keep: int) -> list[str]:
    """Delete the stored files and rows of the backups past the newest ``keep``; the keys deleted."""
    deleted = []
    for old in Backup.objects.order_by("-taken_at", "-id")[keep:]:
        try:
            storage().delete(old.key)
        except Exception:  # left for the next run; the row stays, so it is tried again
            logger.warning("backup %s: the stored file could not be deleted", old.key, exc_info=True)
            continue
        with transaction.atomic(), acting_as("job:backup"):
            Backup.objects.filter(pk=old.pk).delete()
            record("backup.deleted", kind="backup", name=old.key, object_id=old.pk, changes={"keep": keep})
        deleted.append(old.key)
    return deleted


# -- the restore check ---------------------------------------------------------------------------------------------


def check_restore(taken: Backup | None = None) -> Backup | None:
    """Restore ``taken`` (default: the newest backup) into a scratch database and compare; records and returns the
    outcome on the row (``check_ok``, ``check_problems``). None when there is no backup yet."""
    taken = taken or Backup.objects.newest()
    if taken is None:
        return None
    with tempfile.TemporaryDirectory(prefix="registry-restore-check-") as folder:
        problems = _check(taken, Path(folder))
    with transaction.atomic(), acting_as("job:restore_check"):
        Backup.objects.filter(pk=taken.pk).update(
            checked_at=timezone.now(), check_ok=not problems, check_problems=problems
        )
        record(
            "backup.restore_check_failed" if problems else "backup.restore_checked",
            kind="backup",
            name=taken.key,
            object_id=taken.pk,
            changes={"ok": not problems, "problems": problems},
        )
    taken.refresh_from_db()
    return taken


def _check(taken: Backup, folder: Path) -> list[str]:
    local = folder / "backup.jsonl.gz"
    try:
        with storage().open(taken.key, "rb") as stored, local.open("wb") as out:
            digest, size = hashlib.sha256(), 0
            while chunk := stored.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except Exception as exc:  # the type only: a storage error's text may name hosts or paths
        logger.warning("backup %s: could not be read", taken.key, exc_info=True)
        return [f"the stored file could not be read ({type(exc).__name__})"]
    if (size, digest.hexdigest()) != (taken.size_bytes, taken.sha256):
        return [
            f"the stored file is not the one written: {size} bytes with SHA-256 {digest.hexdigest()}, "
            f"written as {taken.size_bytes} bytes with SHA-256 {taken.sha256}"
        ]
    restored = load_into_scratch(local, folder)
    if restored.get("error"):
        return [f"the backup did not restore: {restored['error']}"[:1000]]
    return differences(taken, restored)


def differences(taken: Backup, restored: dict) -> list[str]:
    """What the restored copy (``load_backup_into_scratch``'s answer) holds differently from what ``taken`` held
    when it was written."""
    problems = []
    if restored.get("counts") != taken.counts:
        problems.append(f"records per section: restored {restored.get('counts')}, backed up {taken.counts}")
    if restored.get("export_sha256") != taken.export_sha256:
        problems.append(
            f"exported again, the restored registry gives SHA-256 {restored.get('export_sha256')}, "
            f"the backup {taken.export_sha256}"
        )
    rows, recorded = restored.get("census", {}).get("rows", {}), taken.census.get("rows", {})
    for label in sorted(set(rows) | set(recorded)):
        if rows.get(label) != recorded.get(label):
            problems.append(f"{label}: {rows.get(label)} rows restored, {recorded.get(label)} when backed up")
    changes, recorded_changes = restored.get("census", {}).get("changes"), taken.census.get("changes")
    if changes != recorded_changes:
        problems.append(f"change log: restored {changes}, when backed up {recorded_changes}")
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"and {len(problems) - MAX_PROBLEMS} more"]
    return problems


def load_into_scratch(path: Path, folder: Path) -> dict:
    """Run ``load_backup_into_scratch`` on ``path`` in a child process whose database is a fresh scratch one; its
    answer (``{"counts", "export_sha256", "census"}`` or ``{"error"}``)."""
    from django.contrib.auth import get_user_model

    users = folder / "users.json"
    model = get_user_model()
    users.write_text(json.dumps(list(model.objects.values_list(model.USERNAME_FIELD, flat=True))))
    with scratch_database(folder) as database_url:
        # Nothing of the live deployment but its settings: no replicas, no cache or broker (an import in the scratch
        # must not touch the live registry's cached documents), no metrics files of the web workers.
        env = {
            key: value
            for key, value in os.environ.items()
            if key
            not in (
                "DATABASE_REPLICA_URLS",
                "REDIS_URL",
                "CELERY_BROKER_URL",
                "CELERY_RESULT_BACKEND",
                "PROMETHEUS_MULTIPROC_DIR",
            )
        }
        env.update(DATABASE_URL=database_url, REGISTRY_RESTORE_SCRATCH="1")
        try:
            finished = subprocess.run(
                [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "load_backup_into_scratch", str(path)]
                + ["--users-from", str(users)],
                cwd=settings.BASE_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=settings.BACKUP_TIME_LIMIT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"the restore took longer than {settings.BACKUP_TIME_LIMIT_SECONDS} s"}
    answer = finished.stdout.strip().splitlines()[-1:] or [""]
    try:
        restored = json.loads(answer[0])
    except ValueError:
        restored = None
    if finished.returncode != 0 or not isinstance(restored, dict):
        logger.error("the restore check's scratch load failed: %s", finished.stderr[-3000:])
        if isinstance(restored, dict) and restored.get("error"):
            return restored
        return {"error": f"the scratch load exited with status {finished.returncode}"}
    return restored


def scratch_name() -> str:
    name = settings.RESTORE_CHECK_DATABASE_NAME or f"{connection.settings_dict['NAME']}_restore_check"
    return name[:63]  # PostgreSQL's identifier limit


@contextmanager
def scratch_database(folder: Path) -> Iterator[str]:
    """The URL of an empty database to restore into, dropped afterwards: on PostgreSQL a database created on the
    live one's server (it needs CREATEDB; durability is off there: nothing in it is kept), on SQLite a file."""
    if connection.vendor != "postgresql":
        yield f"sqlite:///{folder / 'scratch.sqlite3'}"
        return
    s = connection.settings_dict
    name = scratch_name()
    if name == s["NAME"]:
        raise ValueError("RESTORE_CHECK_DATABASE_NAME names the live database")
    quoted = connection.ops.quote_name(name)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {quoted}")
        cursor.execute(f"ALTER DATABASE {quoted} SET synchronous_commit = off")
    auth = quote(s["USER"] or "", safe="") + (f":{quote(s['PASSWORD'], safe='')}" if s["PASSWORD"] else "")
    try:
        yield f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{quote(name, safe='')}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")


# -- as the jobs run them (beat's tasks and the commands alike) ---------------------------------------------------


def backup_job() -> Backup:
    from kernel import jobs

    with jobs.tracked("backup"):
        return take_backup()


def restore_check_job() -> Backup | None:
    """The restore check as a job: a difference fails the run (``registry_job_failures_total{job="restore_check"}``)
    after the outcome is recorded."""
    from kernel import jobs

    with jobs.tracked("restore_check"):
        checked = check_restore()
        if checked is not None and not checked.check_ok:
            raise RestoreCheckFailed(f"{checked.key}: {'; '.join(checked.check_problems)}")
    return checked
