"""Scheduled jobs' outcomes, for /metrics and the alerts (``deploy/prometheus/alerts.yml``).

Jobs run in Celery workers, which may be other machines than the web workers that answer /metrics, so a job's
outcome is not kept in the worker's memory: ``tracked(job)`` writes it to the job's ``JobRun`` row, and
``JobCollector`` reads the rows (and the newest backup) at scrape time, one small query each, so every web worker
serves the same figures (the label is ``job_name``, not ``job``, which Prometheus sets to the scrape job's name and
would rename ours to ``exported_job``)::

    registry_job_duration_seconds{job_name}               how long the job's last finished run took
    registry_job_last_success_timestamp_seconds{job_name} when its last successful run ended
    registry_job_failures_total{job_name}                 its failed runs, ever (a counter: rate() works)
    registry_job_runs_total{job_name}                     its finished runs, ever
    registry_backup_size_bytes                       the newest backup's stored size
    registry_backup_last_timestamp_seconds           when the newest backup was taken
    registry_restore_check_ok                        1: the latest restore check restored its backup and it matched
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

logger = logging.getLogger(__name__)

# The jobs that report here; a name outside this list is a programming error, so the label set stays bounded.
JOBS = ("retention", "stats", "backup", "restore_check", "integrity")


@contextmanager
def tracked(job: str) -> Iterator[None]:
    """Record the run of ``job`` around the block: its start, then its duration and success, or its failure (the
    exception's type only: messages may name hosts) before the exception goes on."""
    from kernel.models import JobRun

    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}")
    started, started_at = time.monotonic(), timezone.now()
    _store(job, last_started_at=started_at)
    try:
        yield
    except BaseException as exc:
        _store(
            job,
            last_failure_at=timezone.now(),
            last_duration_seconds=time.monotonic() - started,
            runs=F("runs") + 1,
            failures=F("failures") + 1,
            last_error=type(exc).__name__[: JobRun._meta.get_field("last_error").max_length],
        )
        raise
    _store(
        job,
        last_success_at=timezone.now(),
        last_duration_seconds=time.monotonic() - started,
        runs=F("runs") + 1,
        last_error="",
    )


def _store(job: str, **values) -> None:
    from kernel.models import JobRun

    try:
        with transaction.atomic():
            JobRun.objects.get_or_create(job=job)
            JobRun.objects.filter(job=job).update(**values)
    except Exception:  # the job's own outcome matters more than its record; a database outage shows elsewhere
        logger.warning("job %s: its run could not be recorded", job, exc_info=True)


class JobCollector:
    def describe(self):
        return []  # read at scrape time only (no query when the collector is registered)

    def collect(self):
        from kernel.models import Backup, JobRun

        try:
            runs = list(JobRun.objects.filter(job__in=JOBS).order_by("job"))
            newest = Backup.objects.newest()
            checked = Backup.objects.filter(checked_at__isnull=False).order_by("-checked_at").first()
        except Exception:  # a scrape must not fail because the database is briefly away
            logger.warning("job metrics skipped: the database did not answer", exc_info=True)
            return
        duration = GaugeMetricFamily(
            "registry_job_duration_seconds", "How long the job's last finished run took.", labels=["job_name"]
        )
        success = GaugeMetricFamily(
            "registry_job_last_success_timestamp_seconds",
            "When the job's last successful run ended.",
            labels=["job_name"],
        )
        failures = CounterMetricFamily("registry_job_failures", "Failed runs of the job.", labels=["job_name"])
        finished = CounterMetricFamily("registry_job_runs", "Finished runs of the job.", labels=["job_name"])
        for run in runs:
            if run.last_duration_seconds is not None:
                duration.add_metric([run.job], run.last_duration_seconds)
            if run.last_success_at is not None:
                success.add_metric([run.job], run.last_success_at.timestamp())
            failures.add_metric([run.job], run.failures)
            finished.add_metric([run.job], run.runs)
        yield from (duration, success, failures, finished)
        if newest is not None:
            yield GaugeMetricFamily(
                "registry_backup_size_bytes", "The newest backup's stored size.", value=newest.size_bytes
            )
            yield GaugeMetricFamily(
                "registry_backup_last_timestamp_seconds",
                "When the newest backup was taken.",
                value=newest.taken_at.timestamp(),
            )
        if checked is not None:
            yield GaugeMetricFamily(
                "registry_restore_check_ok",
                "1 if the latest restore check restored its backup into a scratch database and it matched; 0 if not.",
                value=1 if checked.check_ok else 0,
            )
