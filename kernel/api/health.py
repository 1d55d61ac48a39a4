"""Liveness and readiness for load balancers and orchestrators; no credentials needed.

Only the database is essential: without it the registry cannot answer, so readiness is 503. The other checks are
``degraded`` with 200, and the replica stays in the load balancer:

- the cache and the broker are accelerators (the service keeps working without them);
- the artifact storage (registered by models_app: ``register_check``) is probed by writing, reading back and
  deleting a small object, so "reachable but read-only" fails too. It is shared by every replica, so taking them
  all out of the load balancer would not bring it back, and every read of the registry's documents still works
  without it; uploads and downloads fail until it returns, which the degraded status and the alert say.

Each check reports its latency (``ms``). Error details (which name internal hosts, ports and paths) are shown to
staff sessions only; anonymous callers see each check's name, status and latency. Every probe also sets
``registry_readiness_check_up{check}`` and ``registry_readiness_check_seconds{check}`` for /metrics (as of the
latest probe, merged across workers), which the alerts ``RegistryDatabaseUnreachable`` and
``RegistryDependencyDegraded`` watch (deploy/prometheus/alerts.yml)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import Gauge

CHECK_UP = Gauge(
    "registry_readiness_check_up",
    "1 if the readiness check passed at the latest /health/ready probe, 0 if it failed.",
    ["check"],
    multiprocess_mode="mostrecent",
)
CHECK_SECONDS = Gauge(
    "registry_readiness_check_seconds",
    "How long the readiness check took at the latest /health/ready probe.",
    ["check"],
    multiprocess_mode="mostrecent",
)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    cache.set("registry:health", "ok", 5)
    if cache.get("registry:health") != "ok":
        raise RuntimeError("the cache did not return what was written")


def _check_broker() -> None:
    from registry_project.celery import app

    with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)


# Checks other apps add (name -> check), in the order they were registered; none of them is essential.
_registered: dict[str, Callable[[], None]] = {}


def register_check(name: str, check: Callable[[], None]) -> None:
    """Add a non-essential readiness check (a failure is ``degraded``); ``check`` raises when it fails."""
    _registered[name] = check


def checks() -> dict:
    found = {"database": _check_database}
    if settings.REDIS_URL:
        found["cache"] = _check_cache
    if settings.CELERY_BROKER_URL:
        found["broker"] = _check_broker
    if settings.DATABASE_REPLICA_URLS:
        from registry_project.replicas import check_replicas

        # Not essential: without a replica in rotation the primary serves every read.
        found["replicas"] = check_replicas
    found.update(_registered)
    return found


ESSENTIAL = frozenset({"database"})


def run_checks(*, detailed: bool = False) -> tuple[str, dict]:
    """("ok" | "degraded" | "fail", per-check results). ``detailed`` adds each failure's text."""
    results, status = {}, "ok"
    for name, check in checks().items():
        started = time.perf_counter()
        try:
            check()
            passed, error = True, None
        except Exception as exc:  # any failure of a dependency is a failed check, reported by name
            passed, error = False, exc
        seconds = time.perf_counter() - started
        results[name] = {"status": "ok" if passed else "fail", "ms": round(seconds * 1000, 2)}
        CHECK_UP.labels(name).set(1 if passed else 0)
        CHECK_SECONDS.labels(name).set(seconds)
        if not passed:
            if detailed:
                results[name]["error"] = f"{type(error).__name__}: {error}"[:300]
            status = "fail" if name in ESSENTIAL else ("degraded" if status == "ok" else status)
    return status, results


@require_GET
def ready(request):
    user = getattr(request, "user", None)
    status, results = run_checks(detailed=bool(user and user.is_staff))
    failing = [name for name, r in results.items() if r["status"] != "ok"]
    body = {"status": status, "checks": results}
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if status == "fail" else 200)


@require_GET
def live(request):
    return JsonResponse({"status": "ok"})
