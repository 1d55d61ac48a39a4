import logging
import os

import pybreaker
from celery import Celery, Task, signals

from registry_project import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_project.settings")

logger = logging.getLogger("registry.resilience")
_broker_breaker = None


def broker_breaker() -> pybreaker.CircuitBreaker:
    global _broker_breaker
    if _broker_breaker is None:
        from registry_project.resilience import breaker

        _broker_breaker = breaker("celery_broker", "Celery broker")
    return _broker_breaker


class RegistryTask(Task):
    """Publishing goes through a circuit breaker: with the broker stalled or down, ``delay``/``apply_async``
    return ``None`` at once (after at most one short timeout per breaker period) instead of holding the request.
    Work published from a request must therefore be recoverable from the database (the change log, periodic jobs)."""

    def apply_async(self, *args, **kwargs):
        if self.app.conf.task_always_eager:
            return super().apply_async(*args, **kwargs)
        try:
            return broker_breaker().call(super().apply_async, *args, **kwargs)
        except Exception:  # counted by the breaker, which logs once when it opens
            logger.debug("task %s not published", self.name, exc_info=True)
            return None


app = Celery("registry", task_cls=RegistryTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Worker and beat log as the web process does (registry_project/logs.py): from the worker's first line (celeryd_init
# comes before its privilege check warns), and instead of Celery's own plain-text setup (a setup_logging receiver
# replaces it, in the worker and in beat alike).
@signals.celeryd_init.connect
def log_from_the_start(options=None, **_) -> None:
    logs.use_registry_logging((options or {}).get("loglevel"))


@signals.setup_logging.connect
def log_as_the_web_process_does(loglevel=None, **_) -> None:
    logs.use_registry_logging(loglevel)


signals.task_prerun.connect(logs.bind_task)
signals.task_postrun.connect(logs.unbind_task)
