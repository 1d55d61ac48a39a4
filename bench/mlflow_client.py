"""Side by side through MLflow's own client (issue 28): the same ``MlflowClient`` workload
(``bench/mlflow_client_workload.py``) against a real MLflow tracking server and against this registry's MLflow
API, both on this machine's PostgreSQL, in one sitting: a warm-up run of each, ANALYZE, then alternating runs
(ours, MLflow, ours, MLflow) at each concurrency. Prints one table of medians with the ratio (ours / MLflow,
calls per second) and keeps each run's JSON under ``bench/results/``.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/reg_mlflow_client_bench \\
    MLFLOW_DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:5432/reg_mlflow_client_peer \\
    MLFLOW_VENV=/tmp/mlflow-venv .venv/bin/python bench/mlflow_client.py

MLflow (the full ``mlflow`` package, with ``psycopg2-binary``) lives in its own virtual environment outside the
repository (``python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow psycopg2-binary``); the
workload runs with that environment's Python against both servers. Both databases are dropped and created afresh.
Ours: gunicorn with 2 workers, ``DEBUG=false``, an API key as ``MLFLOW_TRACKING_TOKEN``; MLflow: ``mlflow server
--workers 2``. Every call opens its own connection (``--no-keepalive``; see the workload's help for why).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/reg_mlflow_client_bench")
os.environ.setdefault("MLFLOW_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/reg_mlflow_client_peer")
os.environ.setdefault("MLFLOW_VENV", "/tmp/mlflow-venv")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_load import gunicorn, migrate_with_key, recreate_database  # noqa: E402
from bench.side_by_side import (  # noqa: E402
    DATABASE_URL,
    ENV,
    MLFLOW_DATABASE_URL,
    MLFLOW_VENV,
    mlflow_server,
    psql,
)

RUNS = int(os.environ.get("BENCH_RUNS", "2"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,4").split(",")]
WORKLOAD = os.environ.get(
    "BENCH_WORKLOAD", "--models 40 --versions-per-model 3 --reads 200 --searches 100 --alias-sets 200 --tag-sets 100"
).split()
WARM_UP = "--models 10 --versions-per-model 2 --reads 30 --searches 10 --alias-sets 20 --tag-sets 10".split()
OUT = ROOT / "bench" / "results"
PHASES = [
    ("create_model", "create_registered_model (2 tags)"),
    ("create_version", "create_model_version"),
    ("get_version", "get_model_version"),
    ("get_by_alias", "get_model_version_by_alias"),
    ("get_model", "get_registered_model"),
    ("search_models", "search_registered_models (tag and name)"),
    ("search_versions", "search_model_versions (name)"),
    ("set_alias", "set_registered_model_alias"),
    ("set_tag", "set_registered_model_tag"),
]


def run_workload(label: str, port: int, key: str, concurrency: int, extra: list[str]) -> Path:
    out = OUT / f"mlflow_client_{label}.json"
    subprocess.run(
        [
            str(MLFLOW_VENV / "bin" / "python"),
            str(ROOT / "bench" / "mlflow_client_workload.py"),
            "--prefix",
            label.replace("_", "-"),
            "--out",
            str(out),
            "--concurrency",
            str(concurrency),
            "--no-keepalive",
            *extra,
        ],
        env={**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}", "MLFLOW_TRACKING_TOKEN": key},
        check=True,
    )
    return out


def medians(files: list[Path]) -> dict[str, dict]:
    rows: dict[str, list[dict]] = {}
    for path in files:
        for row in json.loads(path.read_text())["results"]:
            rows.setdefault(row["phase"], []).append(row)
    return {
        phase: {
            "ops": statistics.median(r["ops_per_s"] for r in found),
            "p50": statistics.median(r["p50_ms"] for r in found),
            "errors": sum(r["errors"] + r["check_failures"] for r in found),
        }
        for phase, found in rows.items()
    }


def table(results: dict[int, tuple[dict, dict]]) -> str:
    levels = sorted(results)
    lines = [
        "| MlflowClient call | " + " | ".join(f"ours c={c} | MLflow c={c} | ratio c={c}" for c in levels) + " |",
        "|---|" + "---:|" * (3 * len(levels)),
    ]
    errors = []
    for phase, label in PHASES:
        cells = []
        for c in levels:
            ours, theirs = results[c][0].get(phase), results[c][1].get(phase)
            if not ours or not theirs:
                cells += ["-", "-", "-"]
                continue
            cells += [
                f"{ours['ops']:.0f}/s, p50 {ours['p50']:.1f} ms",
                f"{theirs['ops']:.0f}/s, p50 {theirs['p50']:.1f} ms",
                f"{ours['ops'] / theirs['ops']:.2f}x" if theirs["ops"] else "-",
            ]
            errors += [
                f"{name} c={c} {phase}: {d['errors']}"
                for name, d in (("ours", ours), ("MLflow", theirs))
                if d["errors"]
            ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if errors:
        lines.append("\nerrors or failed checks: " + "; ".join(errors))
    return "\n".join(lines)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    recreate_database(DATABASE_URL)
    recreate_database(MLFLOW_DATABASE_URL)
    key = migrate_with_key(ENV)
    files: dict[int, tuple[list[Path], list[Path]]] = {c: ([], []) for c in CONCURRENCY}
    with gunicorn(ENV, workers=2) as ours, mlflow_server() as theirs:
        run_workload("warmup_ours", ours, key, 1, WARM_UP)
        run_workload("warmup_mlflow", theirs, key, 1, WARM_UP)
        psql(DATABASE_URL, "ANALYZE")
        psql(MLFLOW_DATABASE_URL, "ANALYZE")
        for run in range(1, RUNS + 1):
            for c in CONCURRENCY:
                files[c][0].append(run_workload(f"ours_c{c}_r{run}", ours, key, c, WORKLOAD))
                files[c][1].append(run_workload(f"mlflow_c{c}_r{run}", theirs, key, c, WORKLOAD))
    load = os.getloadavg()
    print(
        f"MlflowClient side by side, {RUNS} alternating runs each, medians; workload {' '.join(WORKLOAD)}; "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )
    print(table({c: (medians(ours_files), medians(theirs_files)) for c, (ours_files, theirs_files) in files.items()}))


if __name__ == "__main__":
    main()
