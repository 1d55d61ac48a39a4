"""Deterministic cost of the hot paths, in process: Python function calls (cProfile), SQL queries and database round
trips (the queries plus psycopg's BEGIN/COMMIT and the connection health check) per request,
through the real middleware, DRF, PostgreSQL and Redis (``django.test.Client``), beside two minimal views measured
in the same run (a plain Django view and a plain DRF view, each reading one row by primary key). Wall times are
printed too but mean little on a shared machine; the call counts and their ratio to the minimal DRF view do not
depend on the load.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/reg_profile REDIS_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python bench/request_profile.py [--top OPERATION]

The database named in DATABASE_URL is dropped and created afresh. ``--top read_latest`` prints that
operation's 30 most expensive functions by own calls.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_load import recreate_database  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/reg_profile")
os.environ.setdefault("DATABASE_URL", DATABASE_URL)
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("API_RATE_LIMIT", "1000000/min burst 1000000")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_project.settings")

MODELS = 50
SAMPLES = int(os.environ.get("PROFILE_SAMPLES", "30"))
EXAMPLE = json.loads((ROOT / "models_app" / "examples" / "llama2-7b-chat.json").read_text())

urlpatterns: list = []  # filled in setup(): the project's URLs plus the two minimal views


def setup():
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.core.management import call_command
    from django.http import JsonResponse
    from django.urls import include, path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from kernel.models import ApiKey
    from kernel.writes.lifecycle import activate
    from kernel.writes.register import register
    from models_app.models import Model

    call_command("migrate", verbosity=0)
    user_model = get_user_model()

    def minimal_django(request, pk: int):
        row = user_model.objects.get(pk=pk)
        return JsonResponse({"id": row.pk, "username": row.username})

    class MinimalDrf(APIView):
        authentication_classes: list = []
        permission_classes: list = []
        throttle_classes: list = []

        def get(self, request, pk: int):
            row = user_model.objects.get(pk=pk)
            return Response({"id": row.pk, "username": row.username})

    global urlpatterns
    urlpatterns = [
        path("minimal/django/<int:pk>", minimal_django),
        path("minimal/drf/<int:pk>", MinimalDrf.as_view()),
        path("", include(settings.ROOT_URLCONF)),
    ]
    settings.ROOT_URLCONF = __name__

    user = user_model.objects.create_user("bench", password="bench-password-1")
    user.user_permissions.set(
        Permission.objects.exclude(content_type__app_label__in=("auth", "admin", "contenttypes", "sessions"))
    )
    _, key = ApiKey.objects.issue(user)
    for i in range(MODELS):
        for patch in range(3):
            doc = copy.deepcopy(EXAMPLE)
            doc.update(name=f"seed-{i:04d}", version=f"1.0.{patch}")
            registration = register(Model, doc)
        activate(registration.version)
    return user, key


def operations(user, key):
    """(label, request maker): each maker returns (method, path, body) for the n-th request."""
    from models_app.models import Model

    ids = [str(m.latest_version_id) for m in Model.objects.order_by("name")]

    def doc(name: str, version: str) -> dict:
        d = copy.deepcopy(EXAMPLE)
        d.update(name=name, version=version)
        return d

    return [
        ("minimal Django view (one row by pk)", lambda n: ("GET", f"/minimal/django/{user.pk}", None)),
        ("minimal DRF view (one row by pk)", lambda n: ("GET", f"/minimal/drf/{user.pk}", None)),
        ("read_latest GET /models/{name}", lambda n: ("GET", f"/api/v1/models/seed-{n % MODELS:04d}", None)),
        (
            "read_current GET .../versions/current",
            lambda n: ("GET", f"/api/v1/models/seed-{n % MODELS:04d}/versions/current", None),
        ),
        (
            "read_version GET .../versions/1.0.1",
            lambda n: ("GET", f"/api/v1/models/seed-{n % MODELS:04d}/versions/1.0.1", None),
        ),
        ("read_by_id GET /models/id/{uuid}", lambda n: ("GET", f"/api/v1/models/id/{ids[n % MODELS]}", None)),
        ("register_model POST /models", lambda n: ("POST", "/api/v1/models", doc(f"new-{n:05d}", "1.0.0"))),
        (
            "register_version POST .../versions",
            lambda n: (
                "POST",
                f"/api/v1/models/seed-{n % MODELS:04d}/versions",
                doc(f"seed-{n % MODELS:04d}", f"2.{n}.0"),
            ),
        ),
        ("list GET /models?limit=100", lambda n: ("GET", "/api/v1/models?limit=100", None)),
        (
            "activate POST .../versions/{v}/activate",
            lambda n: ("POST", f"/api/v1/models/seed-{n % MODELS:04d}/versions/1.0.{n % 2}/activate", None),
        ),
    ]


def send(client, key: str, method: str, path: str, body):
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
    if method == "GET":
        return client.get(path, **headers)
    return client.post(
        path, data=json.dumps(body) if body is not None else None, content_type="application/json", **headers
    )


# Round trips that CaptureQueriesContext does not see: psycopg's own BEGIN / COMMIT / ROLLBACK, and the
# connection health check's SELECT 1 (Django's is_usable; the registry's engine calls it only when the idle socket
# has something to read). Counted by wrapping both here, in the bench only.
UNSEEN = {"transaction": 0, "health_check": 0}


def count_unseen_round_trips() -> None:
    from django.db.backends.postgresql.base import DatabaseWrapper
    from psycopg._connection_base import BaseConnection

    exec_command, is_usable = BaseConnection._exec_command, DatabaseWrapper.is_usable

    def counted_exec_command(self, command, *args, **kwargs):
        UNSEEN["transaction"] += 1
        return exec_command(self, command, *args, **kwargs)

    def counted_is_usable(self):
        UNSEEN["health_check"] += 1
        return is_usable(self)

    BaseConnection._exec_command = counted_exec_command
    DatabaseWrapper.is_usable = counted_is_usable


def measure(client, key, label, maker, top: bool, sql: bool = False):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(3):  # warm: imports, caches, the key cache
        send(client, key, *maker(10_000 + n))
    calls, queries, trips, walls = [], [], [], []
    stats = None
    for n in range(SAMPLES):
        request = maker(n)
        profiler = cProfile.Profile()
        # What request_started does in production (the test client leaves it out): the next query runs the
        # connection health check.
        connection.close_if_unusable_or_obsolete()
        unseen_before = sum(UNSEEN.values())
        with CaptureQueriesContext(connection) as captured:
            profiler.enable()
            response = send(client, key, *request)
            profiler.disable()
        trips.append(len(captured.captured_queries) + sum(UNSEEN.values()) - unseen_before)
        assert response.status_code in (200, 201), (label, response.status_code, response.content[:300])
        if sql and n == 0:
            print(f"\n--- {label}: SQL")
            for query in captured.captured_queries:
                print(" ", query["sql"][:400])
        st = pstats.Stats(profiler)
        calls.append(st.total_calls)
        queries.append(len(captured.captured_queries))
        stats = st if stats is None else stats.add(profiler)
        started = time.perf_counter()
        # Wall time without the profiler, for the same kind of request (a second one: no write is repeated).
        send(client, key, *maker(20_000 + n))
        walls.append((time.perf_counter() - started) * 1000)
    if top:
        print(f"\n--- {label}: top functions by own calls, summed over {SAMPLES} requests")
        stats.sort_stats("ncalls").print_stats(30)
        stats.sort_stats("cumulative").print_stats(60)
    return statistics.median(calls), statistics.median(queries), statistics.median(trips), statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", default="", help="print the profile of operations whose label starts with this")
    parser.add_argument(
        "--sql", default="", help="print the SQL of one request of operations whose label starts with this"
    )
    args = parser.parse_args()
    recreate_database(DATABASE_URL)
    user, key = setup()
    count_unseen_round_trips()
    from django.test import Client

    client = Client()
    rows = []
    for label, maker in operations(user, key):
        rows.append(
            (
                label,
                *measure(
                    client,
                    key,
                    label,
                    maker,
                    bool(args.top) and label.startswith(args.top),
                    bool(args.sql) and label.startswith(args.sql),
                ),
            )
        )
    reference = rows[1][1]
    print(f"\n{'request':44} | calls | x DRF minimal | SQL | round trips | wall ms (noisy)")
    for label, calls, queries, trips, wall in rows:
        print(
            f"{label:44} | {calls:>5.0f} | {calls / reference:>13.1f} | {queries:>3.0f} | {trips:>11.0f} | {wall:6.2f}"
        )
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
