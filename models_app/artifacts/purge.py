"""Deleting a version's stored artifact files (retention's purge, through ``ModelVersion.delete_stored_artifacts``)."""

from __future__ import annotations

from django.db import transaction

from kernel.models import changelog
from models_app.artifacts.storage import StorageKeyRefused, artifact_storage
from models_app.artifacts.upload import refresh_summary


def delete_stored(version) -> None:
    """Delete each stored object, then its row: a failure raises with the rest still listed, and a retry goes on
    where this stopped (deleting an object that is already gone succeeds)."""
    storage = artifact_storage()
    model_name = version.model.name
    try:
        for artifact in version.artifact_files.order_by("pk"):
            try:
                storage.delete(artifact.storage_key)
            except StorageKeyRefused:
                pass  # the key names nothing inside the store, so there is no object to delete: only the row
            with transaction.atomic():
                artifact.delete()
                changelog.record(
                    "model.artifact_deleted",
                    kind="model",
                    name=model_name,
                    version=version.version,
                    object_id=version.pk,
                    changes={"file": artifact.filename, "sha256": artifact.sha256},
                )
    finally:
        refresh_summary(version.pk)
