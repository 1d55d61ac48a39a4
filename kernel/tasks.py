"""Celery tasks of the registry as a whole: thin wrappers over model-level functions (a small summary out)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from kernel import backup_jobs, jobs, stats
from kernel.models import webhooks
from kernel.models.idempotency import IdempotencyKey
from registry_project import tracing


# Idempotent: a snapshot recomputed twice is the same snapshot.
@shared_task(
    name="kernel.tasks.refresh_stats",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.STATS_TIME_LIMIT_SECONDS,
    time_limit=settings.STATS_TIME_LIMIT_SECONDS + 30,
)
def refresh_stats() -> dict:
    with jobs.tracked("stats"):
        snapshot = stats.refresh()
    return {"refreshed_at": snapshot.refreshed_at.isoformat(), "duration_ms": snapshot.duration_ms}


# Both run on the "webhooks" queue (CELERY_TASK_ROUTES), served by their own worker, so the lifecycle jobs never
# wait behind a delivery; each lane is its own task, so a slow receiver holds one worker slot, not the queue.
@shared_task(name="kernel.tasks.deliver_webhooks", ignore_result=True)
def deliver_webhooks() -> dict:
    """Beat job: relay the change log's outbox to the subscriptions, then start a lane task for every subscription
    with a delivery due and no lane task queued yet."""
    relayed = 0
    while (batch := webhooks.relay_outbox()) > 0:
        relayed += batch
    lanes = webhooks.queue_lanes()
    # With tracing on, a lane's task is published in the trace of the change it delivers first (the context the
    # change stored with its outbox item), so that trace shows the task and the delivery it made.
    traces = webhooks.lane_trace_contexts(lanes) if lanes and tracing.started() else {}
    for subscription_id in lanes:
        with tracing.continuing(traces.get(subscription_id) or ""):
            published = deliver_webhook_lane.delay(subscription_id)
        if published is None:  # not published (broker down): try next tick
            webhooks.lane_done(subscription_id)
    return {"relayed": relayed, "lanes": len(lanes)}


@shared_task(name="kernel.tasks.deliver_webhook_lane", ignore_result=True)
def deliver_webhook_lane(subscription_id: int) -> dict:
    return {"subscription": subscription_id, "attempts": webhooks.deliver_lane(subscription_id)}


# Idempotent: a second run finds nothing expired.
@shared_task(name="kernel.tasks.purge_idempotency_keys", acks_late=True, reject_on_worker_lost=True)
def purge_idempotency_keys() -> dict:
    """Beat job, hourly: delete the idempotency keys past their IDEMPOTENCY_KEY_HOURS."""
    return {"deleted": IdempotencyKey.objects.purge()}


@shared_task(
    name="kernel.tasks.backup_registry",
    soft_time_limit=settings.BACKUP_TIME_LIMIT_SECONDS,
    time_limit=settings.BACKUP_TIME_LIMIT_SECONDS + 60,
)
def backup_registry() -> dict:
    """Beat job (daily by default): an export to the artifact storage, recorded; older ones past BACKUP_KEEP go."""
    taken = backup_jobs.backup_job()
    return {"key": taken.key, "size_bytes": taken.size_bytes, "counts": taken.counts}


@shared_task(
    name="kernel.tasks.check_restore",
    soft_time_limit=settings.BACKUP_TIME_LIMIT_SECONDS + 60,  # the scratch load's own timeout comes first
    time_limit=settings.BACKUP_TIME_LIMIT_SECONDS + 120,
)
def check_restore() -> dict:
    """Beat job (daily by default): restore the newest backup into a scratch database and compare."""
    checked = backup_jobs.restore_check_job()
    return {"key": checked and checked.key, "ok": checked and checked.check_ok}
