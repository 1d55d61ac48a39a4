"""Benchmark the lifecycle jobs at 100,000 models x 10 versions (1 M versions) on PostgreSQL.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/registry_bench_jobs .venv/bin/python bench/lifecycle_jobs.py

Creates the database (dropping one of that name first), migrates it, generates the rows with bulk SQL
(``generate_series``; about 10% of models have an old current version, 200 active pipelines pin a version each),
then runs each job as its own ``manage.py`` process and reports wall time and that process's peak resident memory
(``wait4``'s ru_maxrss):

- ``apply_retention`` with the default keep (3): archives ~700,000 versions;
- ``refresh_stats`` right after it (690,000 dead row versions and stale statistics: the worst case);
- ``VACUUM ANALYZE`` (what autovacuum does soon after such a run), then ``apply_retention`` again (nothing left to
  do: the idempotent re-run) and ``refresh_stats`` (the snapshot's own duration is printed too);
- ``export_registry`` to a gzip file (streamed: its memory must not grow with the registry).

Generated rows are then vacuumed and analysed (``VACUUM ANALYZE``), as autovacuum keeps a production table;
BENCH_NO_VACUUM=1 skips it, BENCH_SKIP_EXPORT=1 skips the export. The load average is printed before the jobs and
after each (the machine may be shared). The database is dropped at the end unless KEEP_BENCH_DB is set. Paste the
figures into docs/benchmarks.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent
URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/registry_bench_jobs")
MODELS = int(os.environ.get("BENCH_MODELS", "100000"))
VERSIONS = 10
PIPELINES = 200

SPEC = (
    '{"artifact": {"bucket": "b", "path": "p", "format": "safetensors", "size_bytes": 13483847680, "checksum": "sha256:00"},'
    ' "runtime": {"type": "vllm", "dtype": "float16"}, "capabilities": ["chat"]}'
)


def admin_connection():
    parsed = urlparse(URL)
    return psycopg.connect(URL.replace(parsed.path, "/postgres"), autocommit=True)


def database_name() -> str:
    return urlparse(URL).path.lstrip("/")


def manage_measured(*args: str) -> tuple[float, int, str]:
    """Like ``manage`` but measures the child's own peak RSS with wait4 (communicate() would reap it first)."""
    env = {**os.environ, "DATABASE_URL": URL, "DEBUG": "false", "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING"}
    env.pop("CELERY_BROKER_URL", None)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args], env=env, stdout=out, stderr=err, text=True
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({process.returncode}):\n{err.read()}")
        return elapsed, usage.ru_maxrss // 1024, out.read()


def generate() -> float:
    started = time.monotonic()
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO models_app_model (name, family, retention_keep, description, tags, created_at, updated_at) "
            "SELECT 'model-' || g, 'family-' || (g %% 20), NULL, '', '[]'::jsonb, now(), now() FROM generate_series(1, %s) g",
            [MODELS],
        )
        conn.execute(
            "INSERT INTO models_app_modelversion (id, model_id, version, major, minor, patch, prerelease, prerelease_key, build,"
            # The search columns as registration fills them (name, family, description), so that their GIN
            # indexes cost what they cost in production when retention rewrites a row.
            " spec, description, tags, metadata, status, is_current, is_latest, storage_tier, created_at, updated_at,"
            " deltas, lineage_depth, relation, stored_artifacts, search_text, effective_tags, search_vector) "
            "SELECT gen_random_uuid(), m.id, '1.' || v || '.0', 1, v, 0, '', '~', '', %s::jsonb, '', '[]'::jsonb, '{}'::jsonb,"
            " CASE WHEN v = 1 THEN 'deprecated' ELSE 'active' END, (v = 0 AND m.id %% 10 = 0), v = %s, 'hot', now(), now(),"
            " '{}'::jsonb, 0, '', '[]'::jsonb, lower(m.name || E'\\n' || m.family || E'\\n'), '[]'::jsonb, to_tsvector('simple', m.name || ' ' || m.family) "
            "FROM models_app_model m CROSS JOIN generate_series(0, %s) v",
            [SPEC, VERSIONS - 1, VERSIONS - 1],
        )
        conn.execute(
            "INSERT INTO pipelines_app_pipeline (name, description, tags, created_at, updated_at)"
            " SELECT 'pipeline-' || g, '', '[]'::jsonb, now(), now() FROM generate_series(1, %s) g",
            [PIPELINES],
        )
        conn.execute(
            "INSERT INTO pipelines_app_pipelineversion (id, pipeline_id, version, major, minor, patch, prerelease, prerelease_key, build,"
            " spec, description, tags, metadata, status, is_current, is_latest, model_names, model_refs, created_at, updated_at, search_text,"
            " effective_tags) "
            "SELECT gen_random_uuid(), p.id, '1.0.0', 1, 0, 0, '', '~', '', "
            " jsonb_build_object('steps', jsonb_build_array(jsonb_build_object('id', 'gen', 'type', 'inference', 'model', 'model-' || (p.id * 7) || '@1.1.0', 'depends_on', '[]'::jsonb))),"
            " '', '[]'::jsonb, '{}'::jsonb, 'active', true, true, jsonb_build_array('model-' || (p.id * 7)), jsonb_build_array('model-' || (p.id * 7) || '@1.1.0'), now(), now(), p.name || E'\\n', '[]'::jsonb "
            "FROM pipelines_app_pipeline p"
        )
        # The definitions' pointers, as the application keeps them (the latest is the row flagged is_latest).
        for definition, version, parent in [
            ("models_app_model", "models_app_modelversion", "model_id"),
            ("pipelines_app_pipeline", "pipelines_app_pipelineversion", "pipeline_id"),
        ]:
            conn.execute(
                f"UPDATE {definition} d SET latest_version_id = v.id FROM {version} v WHERE v.{parent} = d.id AND v.is_latest"
            )
            conn.execute(
                f"UPDATE {definition} d SET current_version_id = v.id FROM {version} v WHERE v.{parent} = d.id AND v.is_current"
            )
        conn.execute("ANALYZE")
    return time.monotonic() - started


def vacuum() -> float:
    """VACUUM ANALYZE the generated rows, as autovacuum does to a production table long before a retention run:
    without it (and the PostgreSQL here runs with autovacuum off) the table has no visibility map, so every
    index-only read of the live-release index goes to the heap, and the first statements to touch each page set
    its hint bits. BENCH_NO_VACUUM=1 measures that unvacuumed state instead."""
    started = time.monotonic()
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def main() -> None:
    name = database_name()
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        manage_measured("migrate", "--verbosity", "0")
        print(f"generated {MODELS:,} models x {VERSIONS} versions in {generate():.1f} s")
        if os.environ.get("BENCH_NO_VACUUM"):
            print("not vacuumed (BENCH_NO_VACUUM)")
        else:
            print(f"VACUUM ANALYZE in {vacuum():.1f} s")
        print(
            f"load average before the jobs: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
        )
        jobs = [
            ("apply_retention (first run)", ["apply_retention"]),
            # Right after the run: 690,000 dead row versions, stale statistics (the worst case; autovacuum=off here).
            ("refresh_stats (unvacuumed, right after the first run)", ["refresh_stats"]),
            # What autovacuum does soon after such a run (690,000 changed rows is far past its 20% threshold).
            ("VACUUM ANALYZE", None),
            ("apply_retention (re-run, nothing to do)", ["apply_retention"]),
            ("refresh_stats", ["refresh_stats"]),
        ]
        folder = tempfile.TemporaryDirectory()
        if not os.environ.get("BENCH_SKIP_EXPORT"):
            jobs.append(("export_registry (gzip)", ["export_registry", str(Path(folder.name) / "backup.jsonl.gz")]))
        rows = []
        for label, args in jobs:
            if args is None:
                rows.append((label, vacuum(), 0, "", os.getloadavg()[0]))
                continue
            rows.append((label, *manage_measured(*args), os.getloadavg()[0]))
        folder.cleanup()
        print("\n| job | wall s | peak RSS MB | load (1 min) after | output |\n|---|---|---|---|---|")
        for label, seconds, rss, out, load in rows:
            print(
                f"| {label} | {seconds:.1f} | {rss} | {load:.2f} | {out.strip().splitlines()[0] if out.strip() else ''} |"
            )
        with psycopg.connect(URL) as conn:
            tiers = conn.execute(
                "SELECT status, storage_tier, count(*) FROM models_app_modelversion GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall()
        print("\nversions after retention:", tiers)
    finally:
        if not os.environ.get("KEEP_BENCH_DB"):
            with admin_connection() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
