"""Celery tasks of the shared base: thin callers of the model-level functions."""

from __future__ import annotations

from celery import shared_task

from registry_project import webhooks


@shared_task(ignore_result=True)
def deliver_webhooks() -> dict:
    """Beat job: relay the change log's outbox to the subscriptions, then send every due delivery in order."""
    relayed = 0
    while (batch := webhooks.relay_outbox()) > 0:
        relayed += batch
    return {"relayed": relayed, "attempts": webhooks.deliver_due()}
