"""System checks for configurations that work but surprise in production."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=False)
def broker_configured(app_configs, **kwargs):
    """Without a broker Celery runs tasks inline, inside the request that queued them: right for ``make run``,
    wrong in production, where a slow task would hold a web worker."""
    if settings.DEBUG or settings.CELERY_BROKER_URL:
        return []
    return [
        Warning(
            "DEBUG is off and CELERY_BROKER_URL is not set: tasks run inline, inside the requests that queue them.",
            hint="Set CELERY_BROKER_URL (e.g. redis://redis:6379/1) and run a Celery worker; see docs/production.md.",
            id="registry.W001",
        )
    ]
