"""The running totals of retention (``RetentionTotals``); retention itself is ``models_app.retention``."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class RetentionTotals(models.Model):
    """Running totals of what retention did, one row, updated with ``F()`` in each batch's transaction: the
    ``registry_retention_*_total`` counters and ``/api/v1/retention/stats`` read them, whichever process ran."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    archived = models.BigIntegerField(default=0)
    purged = models.BigIntegerField(default=0)
    purge_failures = models.BigIntegerField(default=0)
    runs = models.BigIntegerField(default=0)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run = models.JSONField(default=dict, blank=True, help_text="Counts of the last completed run.")

    class Meta:
        verbose_name_plural = "retention totals"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="%(app_label)s_%(class)s_single_row")]

    @classmethod
    def add(cls, **increments: int) -> None:
        """Add to the totals in the caller's transaction (a row lock, never a read-modify-write in Python)."""
        changes = {name: F(name) + value for name, value in increments.items() if value}
        if changes and not cls.objects.filter(pk=1).update(**changes):
            cls.objects.get_or_create(pk=1)
            cls.objects.filter(pk=1).update(**changes)

    @classmethod
    def finish_run(cls, summary: dict) -> None:
        cls.objects.get_or_create(pk=1)
        cls.objects.filter(pk=1).update(runs=F("runs") + 1, last_run_at=timezone.now(), last_run=summary)

    @classmethod
    def current(cls) -> RetentionTotals:
        return cls.objects.filter(pk=1).first() or cls()
