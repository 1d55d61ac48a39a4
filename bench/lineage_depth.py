"""Benchmark lineage at depth 1,000 over HTTP: gunicorn (2 workers) on PostgreSQL, measured from this process.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/registry_bench_lineage .venv/bin/python bench/lineage_depth.py

Creates (and drops first) the database named in DATABASE_URL, registers a chain of 1,001 versions through
``kernel.writes.register.register`` (a baseline and 1,000 derived versions, each with metrics and two contributors, so each
improving one is signed), then reports requests/s and p50/p99 for the ancestors of the deepest version (1,001
steps), the descendants of the baseline (capped at LINEAGE_MAX_NODES) and a contributor's impact (1,000
contributions, totals over all). Paste the table into docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_load import TABLE_HEADER, gunicorn, manage, recreate_database, run_load  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/registry_bench_lineage")
KEY_FILE = Path(tempfile.mkdtemp()) / "attestation.pem"
ENV = {
    "DATABASE_URL": DATABASE_URL,
    "DEBUG": "false",
    "SECRET_KEY": "bench",
    "ALLOWED_HOSTS": "127.0.0.1",
    "ATTESTATION_SIGNING_KEY_FILE": str(KEY_FILE),
}
EXAMPLE = json.loads((ROOT / "models_app" / "examples" / "llama2-7b-chat.json").read_text())
DEPTH = 1000
ALICE = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def seed_and_key() -> str:
    manage(ENV, "migrate", "--verbosity", "0")
    manage(ENV, "create_attestation_key")
    script = (
        "import copy, json, time\n"
        "from django.contrib.auth import get_user_model\n"
        "from models_app.models import Model\n"
        "from kernel.writes.register import register\n"
        f"doc = json.loads({json.dumps(json.dumps(EXAMPLE))})\n"
        "doc['name'] = 'deep'\n"
        "started = time.perf_counter()\n"
        f"for i in range({DEPTH + 1}):\n"
        "    d = copy.deepcopy(doc); d['version'] = f'1.{i}.0'\n"
        "    d['metrics'] = {'accuracy': 0.5 + i / 10000, 'latency_ms': 100 - i / 20}\n"
        "    if i:\n"
        "        d['derived_from'] = {'model': 'deep', 'version': f'1.{i - 1}.0', 'relation': 'finetune'}\n"
        f"        d['contributors'] = [{{'address': '{ALICE}', 'role': 'data', 'weight': 0.7}},\n"
        "                             {'address': '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359', 'role': 'code', 'weight': 0.3}]\n"
        "    register(Model, d)\n"
        f"print(f'registered {DEPTH + 1} versions in {{time.perf_counter() - started:.1f}} s')\n"
        "get_user_model().objects.create_superuser('bench', 'bench@example.invalid', 'bench-password-1')\n"
    )
    print(manage(ENV, "shell", "-c", script).strip())
    return manage(ENV, "create_api_key", "bench").strip().splitlines()[-1]


def main() -> None:
    if os.environ.get("BENCH_REUSE"):  # the chain from an earlier run is still there: skip the 1,001 registrations
        KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        key = manage(ENV, "create_api_key", "bench").strip().splitlines()[-1]
    else:
        recreate_database(DATABASE_URL)
        key = seed_and_key()
    headers = {"Authorization": f"Api-Key {key}"}
    rows = []
    # One client at a time: the latency a caller sees (the load generator shares the server's 2 cores).
    with gunicorn(ENV, workers=2) as port:
        rows.append(
            run_load(
                f"ancestors, depth {DEPTH} (GET .../1.{DEPTH}.0/lineage)",
                "127.0.0.1",
                port,
                headers,
                lambda w, s: ("GET", f"/api/v1/models/deep/versions/1.{DEPTH}.0/lineage", None),
                concurrency=1,
                requests_per_worker=60,
            )
        )
        rows.append(
            run_load(
                "descendants of the baseline (GET .../1.0.0/lineage?direction=descendants)",
                "127.0.0.1",
                port,
                headers,
                lambda w, s: ("GET", "/api/v1/models/deep/versions/1.0.0/lineage?direction=descendants", None),
                concurrency=1,
                requests_per_worker=60,
            )
        )
        rows.append(
            run_load(
                f"impact, {DEPTH} contributions (GET /api/v1/contributors/{{address}}/impact)",
                "127.0.0.1",
                port,
                headers,
                lambda w, s: ("GET", f"/api/v1/contributors/{ALICE.lower()}/impact", None),
                concurrency=1,
                requests_per_worker=60,
            )
        )
    print(TABLE_HEADER)
    for row in rows:
        print(row.row())


if __name__ == "__main__":
    main()
