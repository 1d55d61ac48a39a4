"""Idempotency keys (Stripe's convention): a client that retries a write sends the same ``Idempotency-Key``
header, and the registry answers the stored response instead of doing the work again.

The key's row is written in the same transaction as the work and the answer it stores, so the three commit
together or not at all: a client whose answer was lost (a dropped connection, a 503 after the commit, a timeout)
retries with its key and gets the stored answer of a write that happened once. Only successful answers (2xx)
are stored; a refused write leaves no trace, its key included, and may be sent again.

Two requests with one key at once: the second one's insert of the key waits on the first one's uncommitted row
(the unique constraint), then finds it committed and answers the stored response, or, if the first rolled
back, does the work itself. Never both. Keys are kept ``IDEMPOTENCY_KEY_HOURS`` (24 h by default); the
lifecycle job ``kernel.tasks.purge_idempotency_keys`` deletes expired ones, and an expired key met before that
is taken as new.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

# Printable ASCII without spaces, at most 255 characters (Stripe's bound): UUIDs, ULIDs, base64 all fit.
KEY_PATTERN = r"[!-~]{1,255}"


class IdempotencyKeyQuerySet(models.QuerySet):
    def expired(self, now: dt.datetime | None = None):
        return self.filter(expires_at__lte=now or timezone.now())


class IdempotencyKeyManager(models.Manager.from_queryset(IdempotencyKeyQuerySet)):
    def claim(self, user, key: str, fingerprint: str) -> tuple[IdempotencyKey, bool]:
        """The key's row, and True if this request is to do the work (a new key, or an expired one taken
        over), False if the row holds an earlier request's answer. Call inside the transaction that does the
        work: the claim is released by its rollback."""
        now = timezone.now()
        expires = now + dt.timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
        try:
            with transaction.atomic():  # a savepoint: a duplicate must not spoil the caller's transaction
                return self.create(
                    user=user, key=key, fingerprint=fingerprint, created_at=now, expires_at=expires
                ), True
        except IntegrityError:
            pass  # the key exists (committed, or committed by the request this insert waited for)
        row = self.select_for_update().get(user=user, key=key)
        if row.expires_at > now:
            return row, False
        row.fingerprint, row.created_at, row.expires_at = fingerprint, now, expires
        row.status_code, row.body, row.headers = None, "", {}
        row.save()
        return row, True

    def purge(self, now: dt.datetime | None = None) -> int:
        return self.expired(now).delete()[0]


class IdempotencyKey(models.Model):
    """One client's key and the answer to the request that first used it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of the request's method, path and parsed body: a key names one request."
    )
    status_code = models.PositiveSmallIntegerField(null=True, help_text="None until the answer is stored.")
    body = models.TextField(blank=True, help_text="The answer's JSON text.")
    headers = models.JSONField(default=dict, blank=True, help_text="The answer's Location and ETag.")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    objects = IdempotencyKeyManager()

    class Meta:
        app_label = "registry_project"
        db_table = "registry_idempotency_key"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="registry_idempotency_key_unique"),
        ]
        # The purge job's range scan (kernel.tasks.purge_idempotency_keys).
        indexes = [models.Index(fields=["expires_at"], name="registry_idempotency_expiry")]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id})"
