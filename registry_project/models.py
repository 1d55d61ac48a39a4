"""API keys: hashed (djangorestframework-api-key), shown once, revocable, optionally expiring, tied to a user and
either read-only or read-write."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
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

    objects = ApiKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class CredentialGeneration(models.Model):
    """One row whose ``token`` changes, in the same transaction, whenever an API key or a user row changes
    (database triggers, see migration 0002): revoking, expiring, deleting a key, deactivating or deleting a user,
    however it is done (admin, ORM ``update()``, SQL). Every process compares it with the token its verified-key
    cache was filled under (``registry_project.credentials``), so a revoke is seen by every replica on its next
    request."""

    token = models.CharField(max_length=64)

    class Meta:
        verbose_name = "credential generation"
