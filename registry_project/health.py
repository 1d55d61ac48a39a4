"""Liveness and readiness for load balancers and orchestrators; no credentials needed."""

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
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)


def checks() -> dict:
    found = {"database": _check_database}
    if settings.REDIS_URL:
        found["cache"] = _check_cache
    if settings.CELERY_BROKER_URL:
        found["broker"] = _check_broker
    return found


def run_checks() -> tuple[bool, dict]:
    results, healthy = {}, True
    for name, check in checks().items():
        started = time.perf_counter()
        try:
            check()
            results[name] = {"status": "ok", "ms": round((time.perf_counter() - started) * 1000, 2)}
        except Exception as exc:  # any failure of a dependency is a failed check, reported by name
            healthy = False
            results[name] = {"status": "fail", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return healthy, results


@require_GET
def ready(request):
    healthy, results = run_checks()
    failing = [name for name, r in results.items() if r["status"] != "ok"]
    body = {"status": "ok" if healthy else "fail", "checks": results}
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=200 if healthy else 503)


@require_GET
def live(request):
    return JsonResponse({"status": "ok"})
