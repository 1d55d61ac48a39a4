"""Benchmark the model registry over HTTP: gunicorn (2 workers) on PostgreSQL, measured from this process.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/registry_bench .venv/bin/python bench/models_api.py

Creates (and afterwards drops) the database named in DATABASE_URL, seeds 200 models, then reports requests/s
and p50/p99 for register, get-by-name and list-100. Paste the table into docs/benchmarks.md.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_load import TABLE_HEADER, gunicorn, manage, recreate_database, run_load  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/registry_bench")
ENV = {"DATABASE_URL": DATABASE_URL, "DEBUG": "false", "SECRET_KEY": "bench", "ALLOWED_HOSTS": "127.0.0.1"}
EXAMPLE = json.loads((ROOT / "models_app" / "examples" / "llama2-7b-chat.json").read_text())


def seed_and_key() -> str:
    manage(ENV, "migrate", "--verbosity", "0")
    script = (
        "import copy, json\n"
        "from django.contrib.auth import get_user_model\n"
        "from models_app.models import Model\n"
        "from kernel.writes.register import register\n"
        f"doc = json.loads({json.dumps(json.dumps(EXAMPLE))})\n"
        "for i in range(200):\n"
        "    d = copy.deepcopy(doc); d['name'] = f'seed-{i:04d}'; register(Model, d)\n"
        "get_user_model().objects.create_superuser('bench', 'bench@example.invalid', 'bench-password-1')\n"
    )
    manage(ENV, "shell", "-c", script)
    return manage(ENV, "create_api_key", "bench").strip().splitlines()[-1]


def main() -> None:
    recreate_database(DATABASE_URL)
    key = seed_and_key()
    headers = {"Authorization": f"Api-Key {key}"}

    def register(worker: int, seq: int):
        doc = copy.deepcopy(EXAMPLE)
        doc["name"] = f"bench-w{worker}"
        doc["version"] = f"1.0.{seq + 1000}" if seq >= 0 else f"0.0.{-seq}"
        return "POST", "/api/v1/models", doc

    rows = []
    with gunicorn(ENV, workers=2) as port:
        rows.append(
            run_load(
                "register (POST /api/v1/models)",
                "127.0.0.1",
                port,
                headers,
                register,
                concurrency=4,
                requests_per_worker=250,
            )
        )
        rows.append(
            run_load(
                "get by name (GET /api/v1/models/{name})",
                "127.0.0.1",
                port,
                headers,
                lambda w, s: ("GET", f"/api/v1/models/seed-{abs(s) % 200:04d}", None),
                concurrency=4,
                requests_per_worker=500,
            )
        )
        rows.append(
            run_load(
                "list 100 (GET /api/v1/models?limit=100)",
                "127.0.0.1",
                port,
                headers,
                lambda w, s: ("GET", "/api/v1/models?limit=100", None),
                concurrency=4,
                requests_per_worker=100,
            )
        )
    print(TABLE_HEADER)
    for row in rows:
        print(row.row())


if __name__ == "__main__":
    main()
