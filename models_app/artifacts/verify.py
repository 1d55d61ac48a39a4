"""Integrity re-checks of stored artifact files: re-read the bytes, recompute size and BLAKE3, record the outcome
(the Celery job ``models_app.tasks.verify_artifacts`` and the ``verify_artifacts`` command run these)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter

from kernel.models import changelog
from models_app.artifacts.storage import StorageKeyRefused, open_stored
from models_app.artifacts.upload import CHUNK, ArtifactTooLarge, HashingReader, refresh_summary
from models_app.models import ArtifactFile
from models_app.models.artifact_files import ArtifactFileQuerySet, Integrity

logger = logging.getLogger(__name__)

INTEGRITY_FAILURES = Counter(
    "registry_artifact_integrity_failures_total",
    "Stored artifact files found changed (mismatch) or gone (missing) by an integrity re-check.",
    ["problem"],
)


def verify_files(
    files: ArtifactFileQuerySet, *, progress: Callable[[ArtifactFile], None] | None = None
) -> dict[str, Any]:
    """Re-read every file of ``files``, recompute its BLAKE3 and size, and mark it ok, mismatch or missing. Returns
    counts and the files that fail, e.g. ``{"checked": 3, "ok": 2, "mismatch": 1, "missing": 0,
    "failures": [...]}``."""
    summary: dict[str, Any] = {"checked": 0, **{state.value: 0 for state in Integrity}, "failures": []}
    for artifact in files.select_related("version__model").order_by("pk").iterator(chunk_size=200):
        state = verify_file(artifact)
        summary["checked"] += 1
        summary[state] += 1
        if state != Integrity.OK:
            summary["failures"].append({"file": str(artifact), "integrity": state})
        if progress:
            progress(artifact)
    return summary


def verify_file(artifact: ArtifactFile) -> str:
    """Re-read the stored bytes, recompute size and BLAKE3, and record the outcome. A file newly found
    failing is counted (``registry_artifact_integrity_failures_total``) and written to the change log."""
    try:
        with open_stored(artifact) as stream:
            reader = HashingReader(stream, limit=max(artifact.size, 1) * 2 + CHUNK, filename=artifact.filename)
            while reader.read(CHUNK):
                pass
        same = (reader.size, reader.blake3.hexdigest()) == (artifact.size, artifact.blake3)
        state = Integrity.OK if same else Integrity.MISMATCH
    except ArtifactTooLarge:
        state = Integrity.MISMATCH
    except StorageKeyRefused as exc:  # a key that would leave the store names nothing in it
        logger.error("artifact %s: %s", artifact, exc)
        state = Integrity.MISSING
    except (FileNotFoundError, OSError) as exc:
        state = Integrity.MISSING if _is_missing(exc) else None
        if state is None:
            raise
    except Exception as exc:
        if not _is_missing(exc):
            raise
        state = Integrity.MISSING
    with transaction.atomic():
        locked = ArtifactFile.objects.select_for_update().filter(pk=artifact.pk)
        before = locked.values_list("integrity", flat=True).first()
        if before is None:
            return state  # purged meanwhile
        ArtifactFile.objects.filter(pk=artifact.pk).update(integrity=state, verified_at=timezone.now())
        refresh_summary(artifact.version_id)
        if state != before:
            version = artifact.version
            changelog.record(
                "model.artifact_integrity_changed",
                kind="model",
                name=version.model.name,
                version=version.version,
                object_id=version.pk,
                changes={"file": artifact.filename, "integrity": [before, state]},
            )
    if state != Integrity.OK and state != before:
        INTEGRITY_FAILURES.labels(state).inc()
        logger.error("artifact %s failed its integrity re-check: %s", artifact, state)
    artifact.integrity = state
    return state


def _is_missing(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    response = getattr(exc, "response", None)  # botocore's ClientError
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")
    return False
