"""Operational records of the scheduled jobs, kept in the database so that every web worker's /metrics reads them
(the jobs run in Celery workers, possibly on other machines): one ``JobRun`` row per job with its last outcome, and
one ``Backup`` row per stored backup with what it held when it was taken and what its latest restore check found."""

from __future__ import annotations

from django.db import models


class JobRun(models.Model):
    """The latest outcome of one scheduled job (``kernel.jobs.tracked``): rewritten by every run, never appended."""

    job = models.CharField(max_length=32, primary_key=True)
    last_started_at = models.DateTimeField(null=True)
    last_success_at = models.DateTimeField(null=True)
    last_failure_at = models.DateTimeField(null=True)
    last_duration_seconds = models.FloatField(null=True)
    runs = models.BigIntegerField(default=0)
    failures = models.BigIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        app_label = "registry_project"
        db_table = "registry_job_run"
        verbose_name = "job run"

    def __str__(self) -> str:
        return self.job


class BackupQuerySet(models.QuerySet):
    def newest(self) -> Backup | None:
        return self.order_by("-taken_at", "-id").first()


class Backup(models.Model):
    """A backup the scheduled job wrote to the artifact storage under ``key`` (``kernel.backup_jobs``).

    ``sha256`` and ``size_bytes`` are those of the stored (gzip) bytes, ``export_sha256`` the export's own trailer
    digest, ``counts`` its records per section, and ``census`` the rows of every table the export covers and the
    change log's digest, counted in the same database snapshot as the export: the live registry as of the backup,
    which the restore check compares the restored copy with."""

    key = models.CharField(max_length=1024, unique=True)
    taken_at = models.DateTimeField(db_index=True)
    duration_seconds = models.FloatField(default=0)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    export_sha256 = models.CharField(max_length=64)
    counts = models.JSONField(default=dict)
    census = models.JSONField(default=dict)
    checked_at = models.DateTimeField(null=True)
    check_ok = models.BooleanField(null=True)
    check_problems = models.JSONField(default=list, blank=True)

    objects = BackupQuerySet.as_manager()

    class Meta:
        app_label = "registry_project"
        db_table = "registry_backup"
        ordering = ("-taken_at", "-id")

    def __str__(self) -> str:
        return self.key
