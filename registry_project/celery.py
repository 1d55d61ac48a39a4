import logging
import os
import time

import pybreaker
from celery import Celery, Task, signals

from registry_project import logs, tracing

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


# Tracing starts in the process that runs tasks, after any fork (registry_project/tracing.py): in each child of the
# prefork pool, or in the worker itself for a pool without children (solo, threads).
@signals.worker_process_init.connect
def trace_in_child(**_) -> None:
    tracing.start()


@signals.worker_init.connect
def trace_without_children(sender=None, **_) -> None:
    from celery.concurrency import get_implementation

    pool = get_implementation(getattr(sender, "pool_cls", None) or "prefork")  # a name ("threads") or a class
    if not pool.__module__.endswith(".prefork"):
        tracing.start()


@signals.worker_process_shutdown.connect
def flush_traces(**_) -> None:
    tracing.shutdown()


# Task durations and failures, counted in the database (kernel/models/tallies.py): a worker may run on another
# machine than any web worker, and /metrics is served by the web workers. Tasks run inline (no broker, the embedded
# default) are part of the request that ran them and are not counted here.
_task_started: dict[str, float] = {}


@signals.task_prerun.connect
def task_started(task_id=None, task=None, **_) -> None:
    if task_id and not getattr(task.request, "is_eager", False):
        _task_started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def task_finished(task_id=None, task=None, state=None, **_) -> None:
    started = _task_started.pop(task_id, None)
    if started is None:
        return
    from kernel.metrics import CELERY_TASK_BUCKETS
    from kernel.models import tallies

    labels = {"task": task.name}
    rows = tallies.observation(
        "registry_celery_task_duration_seconds", labels, time.perf_counter() - started, CELERY_TASK_BUCKETS
    )
    # Added at 0 on a success too, so the series exists before the first failure (an alert can compare it).
    rows.append(("registry_celery_task_failures_total", labels, 1.0 if state == "FAILURE" else 0.0))
    try:
        tallies.add_many(rows)
    except Exception:  # the database is away: the task's own outcome stands, only its figures are lost
        logger.warning("task %s not counted", task.name, exc_info=True)
