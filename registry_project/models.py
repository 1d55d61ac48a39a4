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

    def issue(self, user, *, name: str = "", read_only: bool = False, expires_in_days: int | None = None) -> tuple[ApiKey, str]:
        """Create a key for ``user``; returns the row and the plain key, which is never stored and shown only once."""
        expiry = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        return self.create_key(user=user, name=name or f"{user.get_username()} key", read_only=read_only, expiry_date=expiry)


class ApiKey(AbstractAPIKey):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    read_only = models.BooleanField(default=False, help_text="A read-only key may only call GET/HEAD/OPTIONS.")
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(1_000_000)],
        help_text="Overrides API_RATE_LIMIT for this key (requests per minute); empty: the default.",
    )
    rate_limit_burst = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(1_000_000)], help_text="Burst for the override; empty: the rate."
    )

    objects = ApiKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
