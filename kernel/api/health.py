"""Liveness and readiness for load balancers and orchestrators; no credentials needed.

Only the database is essential: without it the registry cannot answer, so readiness is 503. The cache and the
broker are accelerators (the service keeps working without them), so their failure is ``degraded`` with 200 and
the replica stays in the load balancer. Error details (which name internal hosts and ports) are shown to staff
sessions only."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


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
    return found


ESSENTIAL = frozenset({"database"})


def run_checks(*, detailed: bool = False) -> tuple[str, dict]:
    """("ok" | "degraded" | "fail", per-check results). ``detailed`` adds each failure's text."""
    results, status = {}, "ok"
    for name, check in checks().items():
        started = time.perf_counter()
        try:
            check()
            results[name] = {"status": "ok", "ms": round((time.perf_counter() - started) * 1000, 2)}
        except Exception as exc:  # any failure of a dependency is a failed check, reported by name
            results[name] = {"status": "fail"}
            if detailed:
                results[name]["error"] = f"{type(exc).__name__}: {exc}"[:300]
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
