"""Benchmark the gateway's two calls over HTTP: route (the hot path) and report batches.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/reg_bindings_bench .venv/bin/python bench/bindings_api.py

gunicorn (2 workers) on PostgreSQL, measured from this process. Creates (and afterwards drops) the database named
in DATABASE_URL, registers llama2-7b-chat with 8 bindings (each with a window of reports), then reports requests/s
and p50/p99 for a reference read (get a model by name), route at 1 and 4 clients and for report batches of 1, 100 and 1,000 outcomes. Paste the table
into docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_load import TABLE_HEADER, gunicorn, manage, recreate_database, run_load  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/reg_bindings_bench")
ENV = {"DATABASE_URL": DATABASE_URL, "DEBUG": "false", "SECRET_KEY": "bench", "ALLOWED_HOSTS": "127.0.0.1"}
EXAMPLE = json.loads((ROOT / "models_app" / "examples" / "llama2-7b-chat.json").read_text())
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1")


def seed_and_key() -> tuple[str, list[int]]:
    manage(ENV, "migrate", "--verbosity", "0")
    script = (
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from models_app.models import Model\n"
        "from kernel.writes.lifecycle import activate\n"
        "from kernel.writes.register import register\n"
        "from bindings_app.models import ProviderBinding\n"
        "from bindings_app.validation import parse_outcomes\n"
        f"doc = json.loads({json.dumps(json.dumps(EXAMPLE))})\n"
        "version = activate(register(Model, doc).version)\n"
        "ids = []\n"
        f"for i, (provider, region) in enumerate([(p, r) for p in ('openai', 'anthropic') for r in {REGIONS!r}]):\n"
        "    b = ProviderBinding.deploy(version, provider=provider, provider_model_id='m', endpoint_url='https://x.example/v1',\n"
        "        region=region, environment='production', cost_per_1k_input_tokens=0.5 + i / 10, cost_per_1k_output_tokens=1,\n"
        "        slo_latency_p95_ms=5000, slo_success_rate=0.5)\n"
        "    b.report(parse_outcomes([{'success': k % 50 != 0, 'latency_ms': 100 + 13 * ((k * 7 + i) % 60)} for k in range(1000)]))\n"
        "    ids.append(b.pk)\n"
        "get_user_model().objects.create_superuser('bench', 'bench@example.invalid', 'bench-password-1')\n"
        "print(json.dumps(ids))\n"
    )
    ids = json.loads(manage(ENV, "shell", "-c", script).strip().splitlines()[-1])
    return manage(ENV, "create_api_key", "bench").strip().splitlines()[-1], ids


def main() -> None:
    recreate_database(DATABASE_URL)
    try:
        key, ids = seed_and_key()
        headers = {"Authorization": f"Api-Key {key}"}
        route = "/api/v1/route?model=llama2-7b-chat&environment=production&region=us-east-1"

        def batch(size: int):
            body = [
                {"success": i % 20 != 0, "latency_ms": 150 + i % 300, "input_tokens": 300, "output_tokens": 90}
                for i in range(size)
            ]
            return lambda w, s: ("POST", f"/api/v1/bindings/{ids[(w * 3 + s) % len(ids)]}/report", body)

        rows = []
        with gunicorn(ENV, workers=2) as port:
            # The same server's simplest authenticated read, as a yardstick for how loaded the machine is.
            rows.append(
                run_load(
                    "reference: get model by name, 1 client",
                    "127.0.0.1",
                    port,
                    headers,
                    lambda w, s: ("GET", "/api/v1/models/llama2-7b-chat", None),
                    concurrency=1,
                    requests_per_worker=500,
                    warmup=50,
                )
            )
            rows.append(
                run_load(
                    "route, 1 client (GET /api/v1/route)",
                    "127.0.0.1",
                    port,
                    headers,
                    lambda w, s: ("GET", route, None),
                    concurrency=1,
                    requests_per_worker=500,
                    warmup=50,
                )
            )
            rows.append(
                run_load(
                    "route, 4 clients",
                    "127.0.0.1",
                    port,
                    headers,
                    lambda w, s: ("GET", route, None),
                    concurrency=4,
                    requests_per_worker=200,
                    warmup=20,
                )
            )
            rows.append(
                run_load(
                    "report 1 outcome, 1 client",
                    "127.0.0.1",
                    port,
                    headers,
                    batch(1),
                    concurrency=1,
                    requests_per_worker=200,
                )
            )
            rows.append(
                run_load(
                    "report batch of 100, 4 clients",
                    "127.0.0.1",
                    port,
                    headers,
                    batch(100),
                    concurrency=4,
                    requests_per_worker=50,
                )
            )
            rows.append(
                run_load(
                    "report batch of 1,000, 4 clients",
                    "127.0.0.1",
                    port,
                    headers,
                    batch(1000),
                    concurrency=4,
                    requests_per_worker=10,
                    warmup=2,
                )
            )
        print(TABLE_HEADER)
        for row in rows:
            print(row.row())
    finally:
        recreate_database(DATABASE_URL, create=False)


if __name__ == "__main__":
    main()
