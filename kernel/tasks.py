"""Celery tasks of the registry as a whole: thin wrappers over model-level functions (a small summary out)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from kernel import stats
from kernel.models import webhooks
from kernel.models.idempotency import IdempotencyKey


# Idempotent: a snapshot recomputed twice is the same snapshot.
@shared_task(
    name="kernel.tasks.refresh_stats",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.STATS_TIME_LIMIT_SECONDS,
    time_limit=settings.STATS_TIME_LIMIT_SECONDS + 30,
)
def refresh_stats() -> dict:
    snapshot = stats.refresh()
    return {"refreshed_at": snapshot.refreshed_at.isoformat(), "duration_ms": snapshot.duration_ms}


@shared_task(name="kernel.tasks.deliver_webhooks", ignore_result=True)
def deliver_webhooks() -> dict:
    """Beat job: relay the change log's outbox to the subscriptions, then send every due delivery in order."""
    relayed = 0
    while (batch := webhooks.relay_outbox()) > 0:
        relayed += batch
    return {"relayed": relayed, "attempts": webhooks.deliver_due()}


# Idempotent: a second run finds nothing expired.
@shared_task(name="kernel.tasks.purge_idempotency_keys", acks_late=True, reject_on_worker_lost=True)
def purge_idempotency_keys() -> dict:
    """Beat job, hourly: delete the idempotency keys past their IDEMPOTENCY_KEY_HOURS."""
    return {"deleted": IdempotencyKey.objects.purge()}
