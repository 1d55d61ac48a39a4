"""Backups that are known to restore, on a real Celery worker and beat (Redis, PostgreSQL): beat's schedule takes
backups into the artifact storage and runs the restore check, which restores the newest into a scratch database
and finds it matches; then a stored backup is corrupted on disk and the next scheduled check reports it
(registry_restore_check_ok 0, a failed run counted, a change-log entry)."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
import redis
from django.db import connection

from kernel.backup_jobs import scratch_name
from kernel.models import Backup, ChangeLogEntry, JobRun
from kernel.writes.register import register
from models_app.models import Model
from registry_project.beat import LOCK_KEY
from tests.integration.test_celery_jobs import start
from tests.servers import shared_database_url, shared_replica_urls, wait_for


def stop(process: subprocess.Popen, how: int = signal.SIGTERM) -> None:
    """Stop the process and everything it started (its session: beat, a restore check's scratch load)."""
    os.killpg(process.pid, how)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def logs(folder) -> str:
    return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}" for path in sorted(folder.glob("*.log")))


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_scheduled_backups_restore_and_a_corrupted_one_is_reported(anon, model_doc, settings, tmp_path):
    for version in ("1.0.0", "1.1.0"):
        register(Model, model_doc(name="kept-safe", version=version))
    broker = settings.REDIS_URL
    env = {
        **os.environ,
        "DATABASE_URL": shared_database_url(),
        **shared_replica_urls(),
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": broker,
        "ARTIFACT_ROOT": str(tmp_path / "store"),
        "BACKUP_INTERVAL_SECONDS": "1",
        "BACKUP_KEEP": "2",
        "RESTORE_CHECK_INTERVAL_SECONDS": "3",
        "RETENTION_INTERVAL_SECONDS": "3600",
        "STATS_REFRESH_SECONDS": "3600",
        "SECRET_KEY": "integration",
        "DEBUG": "false",
    }

    # One process: a worker with its embedded beat (`worker -B`, as docs/production.md runs the lifecycle jobs).
    def worker_and_beat(name: str) -> subprocess.Popen:
        args = ["worker", "-B", "--schedule", str(tmp_path / f"{name}.schedule"), "--pool", "solo"]
        return start(
            [*args, "--loglevel", "INFO", "--without-gossip", "--without-mingle"], env, tmp_path / f"{name}.log"
        )

    queues = redis.Redis.from_url(broker)
    queues.delete(LOCK_KEY)  # a beat killed by an earlier run leaves its lock for up to 30 s
    try:
        process = worker_and_beat("first")
        try:
            checked = wait_for(lambda: Backup.objects.filter(check_ok=True).exists(), 150)
        finally:  # killed, not stopped: a queued restore check would otherwise run to its end first
            stop(process, signal.SIGKILL)
        assert checked, logs(tmp_path)
        assert Backup.objects.count() <= 2  # BACKUP_KEEP
        assert "registry_restore_check_ok 1.0" in anon.get("/metrics").content.decode()

        # Corrupt the newest backup in storage, then let beat's next restore check (backups now far apart) find it.
        # The killed beat left its lock (registry_project/beat.py), which would keep the next one out until it expires.
        queues.delete("celery", LOCK_KEY)
        newest = Backup.objects.newest()
        stored = tmp_path / "store" / newest.key
        data = bytearray(stored.read_bytes())
        data[len(data) // 2] ^= 0xFF
        stored.write_bytes(bytes(data))
        env.update(BACKUP_INTERVAL_SECONDS="3600", RESTORE_CHECK_INTERVAL_SECONDS="1")
        process = worker_and_beat("second")
        try:
            reported = wait_for(lambda: Backup.objects.filter(pk=newest.pk, check_ok=False).exists(), 90)
        finally:
            stop(process)
    finally:
        queues.delete("celery", "webhooks", LOCK_KEY)
        with connection.cursor() as cursor:  # a check killed midway leaves its scratch database
            cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(scratch_name())} WITH (FORCE)")
    assert reported, logs(tmp_path)
    newest.refresh_from_db()
    assert "the stored file is not the one written" in newest.check_problems[0]
    entry = ChangeLogEntry.objects.filter(action="backup.restore_check_failed", name=newest.key).get()
    assert entry.actor == "job:restore_check" and entry.changes["ok"] is False
    run = JobRun.objects.get(job="restore_check")
    assert run.failures >= 1 and run.last_error == "RestoreCheckFailed"
    text = anon.get("/metrics").content.decode()
    assert "registry_restore_check_ok 0.0" in text
    assert 'registry_job_failures_total{job_name="restore_check"}' in text
    assert 'registry_job_last_success_timestamp_seconds{job_name="backup"}' in text
