"""Celery tasks of the model registry: thin wrappers over model methods (names in, a small summary out)."""

from __future__ import annotations

from contextlib import nullcontext

from celery import shared_task
from django.conf import settings

from kernel import jobs
from kernel.models.changelog import acting_as
from models_app.artifacts.verify import verify_files
from models_app.models import ArtifactFile, Model


# Idempotent (a second run finds nothing left to do), so it is acknowledged late and redelivered if the worker
# dies mid-run; whole batches commit, so the redelivered run finishes the job.
@shared_task(
    name="models_app.tasks.apply_retention",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.RETENTION_TIME_LIMIT_SECONDS,
    time_limit=settings.RETENTION_TIME_LIMIT_SECONDS + 60,
)
def apply_retention(model: str | None = None, keep: int | None = None, dry_run: bool = False) -> dict:
    models = Model.objects.all() if model is None else Model.objects.filter(name=model)
    with jobs.tracked("retention") if not dry_run else nullcontext():
        return models.apply_retention(keep=keep, dry_run=dry_run, report_limit=0).summary()


@shared_task(name="models_app.tasks.verify_artifacts")
def verify_artifacts(model: str | None = None) -> dict:
    """Re-read stored artifact files, recompute BLAKE3, and mark any mismatch or missing file (beat: weekly)."""
    files = ArtifactFile.objects.all()
    if model:
        files = files.of_model(model)
    with jobs.tracked("integrity"), acting_as("job:verify_artifacts"):
        summary = verify_files(files)
    summary["failures"] = summary["failures"][:100]  # a result stays small; the rows hold every status
    return summary
