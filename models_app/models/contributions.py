"""Contributors of model versions (``Contribution``); recording and reading them is ``models_app.lineage``."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Contribution(models.Model):
    """One contributor of one model version, denormalised from the (immutable) spec at registration so that
    "what did this address contribute to" is one indexed query."""

    version = models.ForeignKey("models_app.ModelVersion", on_delete=models.CASCADE, related_name="contributions")
    address = models.CharField(max_length=42, db_index=True, help_text="EIP-55 checksum form.")
    role = models.CharField(max_length=16)
    weight = models.FloatField(help_text="Share of the version's credit; a version's weights sum to 1.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "address"], name="%(app_label)s_%(class)s_once_per_version"),
            models.CheckConstraint(
                condition=Q(weight__gt=0, weight__lte=1), name="%(app_label)s_%(class)s_weight_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.role}, {self.weight:g}) on {self.version_id}"
