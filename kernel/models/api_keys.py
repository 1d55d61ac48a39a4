"""API keys: hashed (djangorestframework-api-key), shown once, revocable, optionally expiring, tied to a user and
either read-only or read-write."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager


class ApiKeyManager(APIKeyManager):
    def get_usable_keys(self):
        return super().get_usable_keys().select_related("user")

    def issue(
        self, user, *, name: str = "", read_only: bool = False, expires_in_days: int | None = None
    ) -> tuple[ApiKey, str]:
        """Create a key for ``user``; returns the row and the plain key, which is never stored and shown only once."""
        expiry = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        return self.create_key(
            user=user, name=name or f"{user.get_username()} key", read_only=read_only, expiry_date=expiry
        )


class ApiKey(AbstractAPIKey):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    read_only = models.BooleanField(default=False, help_text="A read-only key may only call GET/HEAD/OPTIONS.")
    last_used_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Updated at most once a minute."
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(1_000_000)],
        help_text="Overrides API_RATE_LIMIT for this key (requests per minute); empty: the default.",
    )
    rate_limit_burst = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(1_000_000)],
        help_text="Burst for the override; empty: the rate.",
    )

    objects = ApiKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    # Recording every use would cost a write per request; a minute's precision is enough to spot unused keys.
    LAST_USED_PRECISION = timedelta(minutes=1)

    def record_use(self) -> bool:
        """Write ``last_used_at`` if the one this object holds is older than the precision; True if it wrote.
        (The write leaves the credential token alone: migration 0009.)"""
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= self.LAST_USED_PRECISION:
            type(self).objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now
            return True
        return False


class StatsSnapshot(models.Model):
    """The registry's statistics as of ``refreshed_at``: one row, rewritten by ``refresh_stats`` (beat, the
    command, or staff asking for a fresh one). ``/api/v1/stats`` and the /metrics gauges read it, so a scrape or a
    dashboard costs one primary-key read however large the registry is. See ``kernel.stats``."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    data = models.JSONField(default=dict)
    refreshed_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="%(app_label)s_%(class)s_single_row")]


class CredentialGeneration(models.Model):
    """One row whose ``token`` changes, in the same transaction, whenever an API key or a user row changes
    (database triggers, see migration 0002): revoking, expiring, deleting a key, deactivating or deleting a user,
    however it is done (admin, ORM ``update()``, SQL). Every process compares it with the token its verified-key
    cache was filled under (``kernel.credentials``), so a revoke is seen by every replica on its next
    request."""

    token = models.CharField(max_length=64)

    class Meta:
        verbose_name = "credential generation"
