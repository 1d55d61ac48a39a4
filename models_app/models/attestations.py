"""Signed improvement attestations (``Attestation``), stored exactly as issued; signing, keys and verification are
``models_app.attestations``."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Attestation(models.Model):
    """The envelope issued for an improving version, kept exactly as signed."""

    version = models.OneToOneField(
        "models_app.ModelVersion", on_delete=models.PROTECT, related_name="attestation", primary_key=True
    )
    key_id = models.CharField(max_length=64, help_text="SHA-256 of the signing public key.")
    envelope = models.JSONField(help_text="DSSE envelope: payloadType, payload (base64 statement), signatures.")
    issued_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"attestation of {self.version_id} by key {self.key_id[:12]}"

    def as_dict(self) -> dict:
        return {"key_id": self.key_id, "issued_at": self.issued_at.isoformat(), "envelope": self.envelope}
