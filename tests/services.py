"""Loaded with ``-p tests.services`` before Django is set up: decide which real services the suite runs on.

In CI (``CI`` set) PostgreSQL and Redis must be reachable, or the run fails at once, naming the service.
Elsewhere a missing service is reported, the suite falls back (SQLite / local memory cache) and the tests marked
``postgres`` or ``redis`` are skipped with that reason.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
# The test client speaks plain HTTP; production redirects it to HTTPS (tests/kernel/test_deploy_check.py).
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
# The suite's clients (the schemathesis run, the documented examples' run, the concurrency tests) send far
# more than a minute's budget on one key; tests/kernel/test_rate_limits.py sets its own low limits and checks the
# defaults.
os.environ.setdefault("API_RATE_LIMIT", "1000000/min burst 1000000")
os.environ.setdefault("API_CHECK_RATE_LIMIT", "1000000/min burst 1000000")

IN_CI = bool(os.environ.get("CI"))
MISSING: dict[str, str] = {}


def _reachable(url: str, default_port: int) -> str | None:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{host}:{port} unreachable ({exc})"


def _probe() -> None:
    if os.environ.get("REGISTRY_TEST_SQLITE"):
        # An explicit run on the embedded default (make test-sqlite): no services, by choice.
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
        MISSING["postgres"] = "REGISTRY_TEST_SQLITE asks for the SQLite run"
        MISSING["redis"] = "REGISTRY_TEST_SQLITE asks for the SQLite run"
        return
    db_url = os.environ.get("DATABASE_URL", "")
    if db_url.startswith("postgres"):
        problem = _reachable(db_url, 5432)
        if problem:
            MISSING["postgres"] = f"PostgreSQL at {problem}"
    else:
        MISSING["postgres"] = "DATABASE_URL does not name PostgreSQL"
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url:
        problem = _reachable(redis_url, 6379)
        if problem:
            MISSING["redis"] = f"Redis at {problem}"
    else:
        MISSING["redis"] = "REDIS_URL is not set"

    if MISSING and IN_CI:
        raise pytest.UsageError("CI needs real services: " + "; ".join(MISSING.values()))
    if "postgres" in MISSING:
        os.environ.pop("DATABASE_URL", None)  # SQLite
    if "redis" in MISSING:
        os.environ.pop("REDIS_URL", None)  # local-memory cache


_probe()


def _own_redis_db_per_worker() -> None:
    """Under pytest-xdist (``make test`` runs two workers) each worker takes its own Redis database, counting down
    from the one asked (``/15``: gw0 on 15, gw1 on 14), so one worker's Celery queues, cache and rate counters never
    meet another's. Each worker has its own test database already (pytest-django's ``_gwN`` suffix)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    url = os.environ.get("REDIS_URL")
    if not (url and worker.startswith("gw") and worker[2:].isdigit()):
        return
    parsed = urlparse(url)
    base = int(parsed.path.strip("/") or 0)
    os.environ["REDIS_URL"] = parsed._replace(path=f"/{(base - int(worker[2:])) % 16}").geturl()


_own_redis_db_per_worker()


def services_line() -> str:
    if not MISSING:
        return "services: real PostgreSQL and Redis"
    return "services: " + "; ".join(f"{name} MISSING ({why}): its tests were skipped" for name, why in MISSING.items())


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(services_line(), yellow=bool(MISSING), green=not MISSING)


def pytest_collection_modifyitems(config, items):
    for item in items:
        for name in ("postgres", "redis"):
            if name in MISSING and item.get_closest_marker(name):
                item.add_marker(pytest.mark.skip(reason=f"needs {name}: {MISSING[name]}"))
