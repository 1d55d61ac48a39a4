"""Scale: the same read, list, search and register requests at 1,000 models and at 100,000 models x 10 versions
(1,000,000 version rows), loaded with bulk SQL. One client, a new TCP connection per request (as the side-by-side
harness), gunicorn with 2 workers; prints p50/p95 per request kind at both sizes and the EXPLAIN of the list
queries at the large size.

    make bench-scale    # or: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/reg_performance_scale .venv/bin/python bench/scale.py

The database named by DATABASE_URL is dropped and created afresh. SCALE_MODELS (default 100000) sets the
large size. `bench/scale.py explain` prints only the plans, on the database a run left behind.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_load import gunicorn, manage, migrate_with_key, recreate_database  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/reg_performance_scale")
LARGE = int(os.environ.get("SCALE_MODELS", "100000"))
SMALL = 1000
VERSIONS = 10
REQUESTS = int(os.environ.get("SCALE_REQUESTS", "300"))
ENV = {"DATABASE_URL": DATABASE_URL, "DEBUG": "false", "SECRET_KEY": "bench", "ALLOWED_HOSTS": "127.0.0.1"}
EXAMPLE = json.loads((ROOT / "models_app" / "examples" / "llama2-7b-chat.json").read_text())
SPEC = {k: v for k, v in EXAMPLE.items() if k not in ("name", "version", "family", "description", "tags", "metadata")}
BULK_INDEXES = (
    "_tags_gin",
    "_capabilities_gin",
    "_search_vector_gin",
    "_search_text_trgm",
)  # rebuilt once after a large load


def load(first: int, last: int) -> float:
    """Models first..last, each with versions 1.0.0 .. 10.0.0 (10.0.0 latest, 1.0.0 current), in bulk SQL. Model
    i carries tags team-(i % 10) and, for i <= 200, 'bench-run'. Pointers, the is_latest flags, the effective tags (the
    models carry no tags of their own) and the stored search text are filled the way the application fills them."""
    started = time.perf_counter()
    with psycopg.connect(DATABASE_URL) as conn:
        dropped = []
        if last - first > 10_000:  # build the GIN indexes once after the load, not row by row
            for name, definition in conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'models_app_modelversion'"
            ):
                if name.endswith(BULK_INDEXES):
                    dropped.append(definition)
                    conn.execute(f"DROP INDEX {name}")
        for lo in range(first, last + 1, 10_000):
            hi = min(last, lo + 9_999)
            conn.execute(
                """INSERT INTO models_app_model (name, family, description, tags, created_at, updated_at)
                   SELECT 'scale-' || lpad(i::text, 6, '0'), 'fam' || (i %% 20), '', '[]'::jsonb, now(), now() FROM generate_series(%s::int, %s::int) i""",
                (lo, hi),
            )
            conn.execute(
                """INSERT INTO models_app_modelversion (id, model_id, version, major, minor, patch, prerelease, prerelease_key, build,
                       spec, description, tags, metadata, status, is_current, is_latest, created_at, updated_at, search_text, search_vector,
                       storage_tier, deltas, lineage_depth, relation, stored_artifacts, effective_tags)
                   SELECT gen_random_uuid(), m.id, v || '.0.0', v, 0, 0, '', '~', '', %s::jsonb, 'scale model ' || m.name,
                          CASE WHEN n <= 200 THEN jsonb_build_array('team-' || (n %% 10), 'bench-run') ELSE jsonb_build_array('team-' || (n %% 10)) END,
                          '{}'::jsonb, 'active', v = 1, v = %s, now(), now(),
                          lower(m.name || E'\\n' || m.family || E'\\n' || 'scale model ' || m.name),
                          to_tsvector('simple', lower(m.name || E'\\n' || m.family || E'\\n' || 'scale model ' || m.name)),
                          'hot', '{}'::jsonb, 0, '', '[]'::jsonb,
                          CASE WHEN n <= 200 THEN jsonb_build_array('team-' || (n %% 10), 'bench-run') ELSE jsonb_build_array('team-' || (n %% 10)) END
                   FROM (SELECT id, name, family, substr(name, 7)::int AS n FROM models_app_model WHERE name BETWEEN %s AND %s) m,
                        generate_series(1, %s) v""",
                (json.dumps(SPEC), VERSIONS, f"scale-{lo:06d}", f"scale-{hi:06d}", VERSIONS),
            )
            conn.execute(
                """UPDATE models_app_model m SET latest_version_id = l.id, current_version_id = c.id
                   FROM models_app_modelversion l, models_app_modelversion c
                   WHERE l.model_id = m.id AND l.major = %s AND c.model_id = m.id AND c.is_current AND m.name BETWEEN %s AND %s""",
                (VERSIONS, f"scale-{lo:06d}", f"scale-{hi:06d}"),
            )
            conn.commit()
        for definition in dropped:
            conn.execute(definition)
        conn.commit()
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def request(port: int, key: str, method: str, path: str, body: dict | None = None) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # a new TCP connection per request
    headers = {"Authorization": f"Api-Key {key}", "Connection": "close"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, (time.perf_counter() - started) * 1000


def measure(port: int, key: str, models: int) -> dict[str, tuple[float, float, int]]:
    rng = random.Random(7)
    name = lambda: f"scale-{rng.randint(1, models):06d}"  # noqa: E731
    counter = iter(range(10**6))
    kinds = {
        "read latest (GET /models/{name})": lambda: ("GET", f"/api/v1/models/{name()}", None),
        "read current (GET .../versions/current)": lambda: ("GET", f"/api/v1/models/{name()}/versions/current", None),
        "list tag= (200 models match), 100/page": lambda: ("GET", "/api/v1/models?tag=bench-run&limit=100", None),
        "list tag= (10% of models match), 100/page": lambda: ("GET", "/api/v1/models?tag=team-3&limit=100", None),
        "search= substring (100 models match), 100/page": lambda: (
            "GET",
            "/api/v1/models?search=scale-0001&limit=100",
            None,
        ),
        "list capability=chat&family=fam3, 100/page": lambda: (
            "GET",
            "/api/v1/models?capability=chat&family=fam3&limit=100",
            None,
        ),
        "list, no filter, 100/page": lambda: ("GET", "/api/v1/models?limit=100", None),
        "register a version (POST .../versions)": lambda: (
            "POST",
            f"/api/v1/models/{name()}/versions",
            {**copy.deepcopy(SPEC), "version": f"11.0.{next(counter)}", "description": "registered by the scale bench"},
        ),
    }
    results = {}
    for label, make in kinds.items():
        for _ in range(10):
            request(port, key, *make())  # warm-up
        timings, statuses = [], {}
        n = REQUESTS if "list" not in label and "search" not in label else REQUESTS // 3
        for _ in range(n):
            status, ms = request(port, key, *make())
            timings.append(ms)
            statuses[status] = statuses.get(status, 0) + 1
        timings.sort()
        bad = sum(v for k, v in statuses.items() if k >= 400)
        results[label] = (statistics.median(timings), timings[int(len(timings) * 0.95) - 1], bad)
    return results


def explain() -> str:
    """EXPLAIN (ANALYZE) of the statements a list's page runs on PostgreSQL, per filter: those the paginator runs
    for the page's keys and the bounded count (``StrictLimitOffsetPagination.paginate_keys``, captured as it runs
    them), then the page's documents (``kernel.fastpaths.page_documents``)."""
    script = (
        "from django.db import connection\n"
        "from django.test.utils import CaptureQueriesContext\n"
        "from rest_framework.request import Request\n"
        "from rest_framework.test import APIRequestFactory\n"
        "from models_app.models import ModelVersion\n"
        "from kernel.fastpaths import page_documents\n"
        "from kernel.api.pagination import StrictLimitOffsetPagination\n"
        "base = ModelVersion.objects.of_alive().with_parent().with_aliases().latest_per_definition()\n"
        "cases = [('no filter', base), ('tag=bench-run (200 models)', base.tagged('bench-run')),\n"
        "         ('tag=team-3 (10% of models)', base.tagged('team-3')), ('search=scale-0001', base.search('scale-0001')),\n"
        "         ('capability=chat&family=fam3', base.with_capability('chat').filter(model__family='fam3'))]\n"
        "page_documents.documents_by_key(ModelVersion, [])\n"
        "docs_sql, docs_params, slot = page_documents._compiled[ModelVersion]\n"
        "request = Request(APIRequestFactory().get('/api/v1/models', {'limit': 100}))\n"
        "for label, qs in cases:\n"
        "    with CaptureQueriesContext(connection) as captured:\n"
        "        page = StrictLimitOffsetPagination().paginate_keys(qs.order_by('model__name'), request)\n"
        "    keys = [q['sql'] for q in captured.captured_queries if q['sql'].startswith('SELECT')]\n"
        "    documents = list(docs_params); documents[slot] = page\n"
        "    statements = [(f'keys, statement {i} of {len(keys)}', sql, None) for i, sql in enumerate(keys, 1)]\n"
        "    for what, statement, values in [*statements, ('documents of the page of 100', docs_sql, documents)]:\n"
        "        with connection.cursor() as c:\n"
        "            if what.startswith('keys') and len(keys) > 1 and what.endswith(f'{len(keys)} of {len(keys)}'):\n"
        "                c.execute('SET max_parallel_workers_per_gather = 0')  # as the walk runs (SET LOCAL)\n"
        "            c.execute('EXPLAIN (ANALYZE, COSTS OFF) ' + statement, values)\n"
        "            print(f'-- {label}, {what}'); print('\\n'.join(r[0] for r in c.fetchall()))\n"
        "            c.execute('RESET max_parallel_workers_per_gather')\n"
    )
    return manage(ENV, "shell", "-c", script)


def main() -> None:
    if sys.argv[1:] == ["explain"]:  # the plans only, on a database an earlier run loaded
        print(explain())
        return
    recreate_database(DATABASE_URL)
    key = migrate_with_key(ENV)
    sizes = {}
    loaded = load(1, SMALL)
    with gunicorn(ENV, workers=2) as port:
        sizes[SMALL] = measure(port, key, SMALL)
    print(f"loaded {SMALL} models in {loaded:.0f} s", flush=True)
    loaded = load(SMALL + 1, LARGE)
    print(f"loaded {LARGE} models in {loaded:.0f} s", flush=True)
    with gunicorn(ENV, workers=2) as port:
        sizes[LARGE] = measure(port, key, LARGE)
    load_avg = os.getloadavg()
    print(
        f"\nscale bench: 1 client, new connection per request, {REQUESTS} requests per read/register kind, "
        f"{REQUESTS // 3} per list kind; load average at the end {load_avg[0]:.1f} / {load_avg[1]:.1f} / {load_avg[2]:.1f}\n"
    )
    print(f"| request | {SMALL:,} models p50 / p95 ms | {LARGE:,} models p50 / p95 ms | ratio of p50 |")
    print("|---|---:|---:|---:|")
    for label in sizes[SMALL]:
        (s50, s95, sbad), (l50, l95, lbad) = sizes[SMALL][label], sizes[LARGE][label]
        flag = f" ({sbad + lbad} errors)" if sbad + lbad else ""
        print(f"| {label}{flag} | {s50:.1f} / {s95:.1f} | {l50:.1f} / {l95:.1f} | {l50 / s50:.2f} |")
    print()
    print(explain())


if __name__ == "__main__":
    main()
