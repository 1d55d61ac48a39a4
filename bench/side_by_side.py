"""Side by side with MLflow's model registry, end to end, in one sitting: the shared harness's workload
(``registry_load.py``: create models, versions, reads, searches, alias moves) against ours and against MLflow,
both on this machine's PostgreSQL, alternating runs, after ANALYZE. Prints one table with both columns and the
ratio, plus the raw per-run JSON under ``bench/results/``.

    make bench-side-by-side          # or:
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/reg_performance_bench \\
    MLFLOW_DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:5432/reg_perf_mlflow \\
    MLFLOW_VENV=/work/mlflow-venv BENCH_HARNESS=/work/shared/bench .venv/bin/python bench/side_by_side.py

MLflow runs from its own virtual environment outside the repository (``python3 -m venv $MLFLOW_VENV &&
$MLFLOW_VENV/bin/pip install mlflow psycopg2-binary httpx``); the harness runs with that environment's Python
(it needs httpx). Both databases are dropped and created afresh.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_load import free_port, gunicorn, migrate_with_key, recreate_database  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/reg_performance_bench")
MLFLOW_DATABASE_URL = os.environ.get(
    "MLFLOW_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/reg_perf_mlflow"
)
MLFLOW_VENV = Path(os.environ.get("MLFLOW_VENV", "/work/mlflow-venv"))
HARNESS = Path(os.environ.get("BENCH_HARNESS", "/work/shared/bench"))
RUNS = int(os.environ.get("BENCH_RUNS", "2"))
MLFLOW_START_SECONDS = int(os.environ.get("BENCH_MLFLOW_START_SECONDS", "600"))
CONCURRENCY = os.environ.get("BENCH_CONCURRENCY", "1,8")
# Models registered in each registry before the measured runs (BENCH_BACKGROUND_MODELS=10000: "lists at 10,000
# models"), one version each, at 8 clients. The measured runs' searches then pick their 200 models out of those.
BACKGROUND_MODELS = int(os.environ.get("BENCH_BACKGROUND_MODELS", "0"))
WORKLOAD = os.environ.get(
    "BENCH_WORKLOAD", "--models 200 --versions-per-model 5 --reads 2000 --searches 200 --alias-sets 500"
).split()
OUT = ROOT / "bench" / "results"
ENV = {"DATABASE_URL": DATABASE_URL, "DEBUG": "false", "SECRET_KEY": "bench", "ALLOWED_HOSTS": "127.0.0.1"}

# (harness phase, our label) in the order of the table
PHASES = [
    ("W1_create_models", "register a model (first version)"),
    ("W2_create_versions", "register a version"),
    ("W3_read_version", "read latest / current"),
    ("W4_search_models", "list/search, 100 per page"),
    ("W5_set_alias", "activate (move current / alias)"),
]


def psql(url: str, sql: str, database: str | None = None) -> None:
    parsed = urlparse(url.replace("+psycopg2", ""))
    subprocess.run(
        [
            "psql",
            "-h",
            parsed.hostname or "127.0.0.1",
            "-U",
            parsed.username or "postgres",
            "-d",
            database or parsed.path.lstrip("/"),
            "-qc",
            sql,
        ],
        check=True,
    )


@contextmanager
def mlflow_server():
    port = free_port()
    OUT.mkdir(exist_ok=True)
    log = open(OUT / "mlflow_server.log", "w")  # noqa: SIM115 (closed below, with the server)
    proc = subprocess.Popen(
        [
            str(MLFLOW_VENV / "bin" / "mlflow"),
            "server",
            "--backend-store-uri",
            MLFLOW_DATABASE_URL,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            # uvicorn's supervisor kills a worker that has not answered its health check within 5 s: on a busy
            # machine importing MLflow takes longer, and the workers were restarted forever.
            "--uvicorn-opts",
            "--timeout-worker-healthcheck 120",
        ],
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # A fresh database is migrated first (minutes on a loaded machine); ready when a worker answers /health.
        deadline = time.time() + MLFLOW_START_SECONDS
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"mlflow server exited before serving; see {log.name}") from None
                time.sleep(1)
        else:
            raise RuntimeError(f"mlflow server did not start in {MLFLOW_START_SECONDS} s; see {log.name}")
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its job-runner children share the session
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def run_harness(
    adapter: str, port: int, label: str, key: str, extra: list[str] | None = None, concurrency: str = CONCURRENCY
) -> Path:
    out = OUT / f"{label}.json"
    subprocess.run(
        [
            str(MLFLOW_VENV / "bin" / "python"),
            str(HARNESS / "registry_load.py"),
            "workload",
            "--adapter",
            adapter,
            "--base-url",
            f"http://127.0.0.1:{port}",
            "--concurrency",
            concurrency,
            "--no-keepalive",
            "--label",
            label,
            "--out",
            str(out),
            *(extra or WORKLOAD),
        ],
        check=False,
        env={**os.environ, "REGISTRY_API_KEY": key},
        stdout=subprocess.DEVNULL,
    )
    return out


def medians(files: list[Path]) -> dict:
    by_key: dict[tuple, list[dict]] = {}
    for path in files:
        for r in json.loads(path.read_text())["results"]:
            by_key.setdefault((r["concurrency"], r["phase"]), []).append(r)
    return {
        key: {
            "ops": statistics.median(r["ops_per_s"] for r in rs),
            "p50": statistics.median(r["p50_ms"] for r in rs),
            "errors": sum(r["errors"] + r["check_failures"] for r in rs),
            "kinds": {
                k: statistics.median(r["by_kind"][k]["p50_ms"] for r in rs if k in r.get("by_kind", {}))
                for k in {k for r in rs for k in r.get("by_kind", {})}
            },
        }
        for key, rs in by_key.items()
    }


def table(ours: dict, mlflow: dict, levels: list[int]) -> str:
    lines = [
        "| operation | " + " | ".join(f"ours c={c} | MLflow c={c} | ratio c={c}" for c in levels) + " |",
        "|---|" + "---:|" * (3 * len(levels)),
    ]
    for phase, label in PHASES:
        cells = []
        for c in levels:
            o, m = ours.get((c, phase)), mlflow.get((c, phase))
            if not o or not m:
                cells += ["-", "-", "-"]
                continue
            cells += [
                f"{o['ops']:.0f}/s, p50 {o['p50']:.1f} ms",
                f"{m['ops']:.0f}/s, p50 {m['p50']:.1f} ms",
                f"{o['ops'] / m['ops']:.2f}x",
            ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    errors = {k: v["errors"] for d in (ours, mlflow) for k, v in d.items() if v["errors"]}
    if errors:
        lines.append(f"\nerrors or failed result checks: {errors}")
    for name, data in (("ours", ours), ("MLflow", mlflow)):
        for c in levels:
            kinds = data.get((c, "W3_read_version"), {}).get("kinds", {})
            lines.append(
                f"\n{name} c={c} read p50 by kind: " + ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(kinds.items()))
            )
    return "\n".join(lines)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    recreate_database(DATABASE_URL)
    recreate_database(MLFLOW_DATABASE_URL)
    key = migrate_with_key(ENV)
    with gunicorn(ENV, workers=2) as ours_port, mlflow_server() as mlflow_port:
        if BACKGROUND_MODELS:
            background = [
                "--models",
                str(BACKGROUND_MODELS),
                "--versions-per-model",
                "1",
                "--reads",
                "10",
                "--searches",
                "2",
                "--alias-sets",
                "2",
            ]
            run_harness("ours", ours_port, "background_ours", key, background, concurrency="8")
            run_harness("mlflow", mlflow_port, "background_mlflow", key, background, concurrency="8")
        warm = [
            "--models",
            "20",
            "--versions-per-model",
            "3",
            "--reads",
            "100",
            "--searches",
            "10",
            "--alias-sets",
            "20",
        ]
        run_harness("ours", ours_port, "warmup_ours", key, warm)
        run_harness("mlflow", mlflow_port, "warmup_mlflow", key, warm)
        psql(DATABASE_URL, "ANALYZE")
        psql(MLFLOW_DATABASE_URL, "ANALYZE")
        ours_files, mlflow_files = [], []
        for run in range(1, RUNS + 1):
            ours_files.append(run_harness("ours", ours_port, f"ours_r{run}", key))
            mlflow_files.append(run_harness("mlflow", mlflow_port, f"mlflow_r{run}", key))
    load = os.getloadavg()
    levels = [int(c) for c in CONCURRENCY.split(",")]
    print(
        f"side by side, {RUNS} alternating runs each, medians, {BACKGROUND_MODELS} background models; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )
    print(table(medians(ours_files), medians(mlflow_files), levels))


if __name__ == "__main__":
    main()
