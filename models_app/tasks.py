"""Celery tasks of the models app: thin callers of model methods, idempotent, returning a small summary."""

from __future__ import annotations

from celery import shared_task

from models_app.artifacts import ArtifactFile
from registry_project.changelog import acting_as


@shared_task(name="models_app.tasks.verify_artifacts")
def verify_artifacts(model: str | None = None) -> dict:
    """Re-read stored artifact files, recompute BLAKE3, and mark any mismatch or missing file (beat: weekly)."""
    files = ArtifactFile.objects.all()
    if model:
        files = files.of_model(model)
    with acting_as("job:verify_artifacts"):
        summary = files.verify()
    summary["failures"] = summary["failures"][:100]  # a result stays small; the rows hold every status
    return summary
