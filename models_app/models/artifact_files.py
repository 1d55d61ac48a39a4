"""A file stored for a model version (``ArtifactFile``): its digests, where it lives and its integrity status.
Storing, verifying and deleting the bytes is ``models_app.artifacts``."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

# A stored file as the API describes it (the document's stored_artifacts, the artifact endpoints).
FILE_SCHEMA = {
    "type": "object",
    "properties": {
        "filename": {"type": "string"},
        "size": {"type": "integer"},
        "sha256": {"type": "string"},
        "blake3": {"type": "string"},
        "storage_tier": {"type": "string", "enum": ["filesystem", "s3"]},
        "sealed": {"type": "boolean"},
        "integrity": {"type": "string", "enum": ["ok", "mismatch", "missing"]},
        "verified_at": {"type": "string", "format": "date-time"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}


class Integrity(models.TextChoices):
    OK = "ok", "OK"
    MISMATCH = "mismatch", "Changed behind the registry's back"
    MISSING = "missing", "Missing from storage"


class ArtifactFileQuerySet(models.QuerySet):
    def of_model(self, name: str) -> ArtifactFileQuerySet:
        return self.filter(version__model__name=name)

    def failing(self) -> ArtifactFileQuerySet:
        return self.exclude(integrity=Integrity.OK)


class ArtifactFile(models.Model):
    """One file stored for a model version, with the digests computed while it streamed in."""

    version = models.ForeignKey("models_app.ModelVersion", on_delete=models.CASCADE, related_name="artifact_files")
    filename = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    blake3 = models.CharField(max_length=64)
    storage_key = models.CharField(max_length=1024, unique=True, help_text="The object's name in the artifact storage.")
    storage_tier = models.CharField(max_length=16)
    sealed = models.BooleanField(default=False, help_text="A sealed file cannot be overwritten.")
    integrity = models.CharField(max_length=16, choices=Integrity.choices, default=Integrity.OK)
    verified_at = models.DateTimeField(help_text="When the stored bytes last matched (or failed to match) the digests.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ArtifactFileQuerySet.as_manager()

    class Meta:
        ordering = ("filename",)
        constraints = [
            models.UniqueConstraint(fields=["version", "filename"], name="%(app_label)s_%(class)s_one_per_name"),
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}\Z") & Q(blake3__regex=r"^[0-9a-f]{64}\Z"),
                name="%(app_label)s_%(class)s_hex_digests",
            ),
            models.CheckConstraint(
                condition=Q(integrity__in=Integrity.values), name="%(app_label)s_%(class)s_integrity_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version}/{self.filename}"

    @staticmethod
    def new_key(version, filename: str) -> str:
        return f"{version.model.name}/{version.version}/{uuid.uuid4().hex}/{filename}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "size": self.size,
            "sha256": self.sha256,
            "blake3": self.blake3,
            "storage_tier": self.storage_tier,
            "sealed": self.sealed,
            "integrity": self.integrity,
            "verified_at": self.verified_at.isoformat().replace("+00:00", "Z"),
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }
