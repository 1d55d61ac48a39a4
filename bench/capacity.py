"""CPU cost per request of each kind, for the capacity model (docs/capacity.md): core-milliseconds spent by the web
processes and by the PostgreSQL backends serving them, per request, measured from their own CPU clocks
(/proc/<pid>/stat), so the figures hold on a shared machine where wall-clock throughput does not.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/registry_bench_capacity .venv/bin/python bench/capacity.py

Creates (and afterwards drops) that database, seeds 200 models (8 of them with a second version and 8 provider
bindings on one), serves them with gunicorn (2 workers, as the other HTTP benchmarks) and drives each request kind
with 4 keep-alive clients. The client runs on the same cores, so wall-clock req/s and latencies are a lower bound;
the CPU columns are what the capacity model uses. ROUNDS (default 2) repeats the whole set; each row is the median.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_load import gunicorn, manage, recreate_database, run_load  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/registry_bench_capacity")
ENV = {"DATABASE_URL": DATABASE_URL, "DEBUG": "false", "SECRET_KEY": "bench", "ALLOWED_HOSTS": "127.0.0.1"}
EXAMPLE = json.loads((ROOT / "models_app" / "examples" / "llama2-7b-chat.json").read_text())
TICKS = os.sysconf("SC_CLK_TCK")
CLIENTS = 4


def seed() -> tuple[str, str]:
    manage(ENV, "migrate", "--verbosity", "0")
    script = (
        "import copy, json\n"
        "from django.contrib.auth import get_user_model\n"
        "from models_app.models import Model\n"
        "from kernel.writes.lifecycle import activate\n"
        "from kernel.writes.register import register\n"
        "from kernel.models.aliases import Alias\n"
        "from bindings_app.models import ProviderBinding\n"
        f"doc = json.loads({json.dumps(json.dumps(EXAMPLE))})\n"
        "for i in range(200):\n"
        "    d = copy.deepcopy(doc); d['name'] = f'seed-{i:04d}'; v = register(Model, d).version\n"
        "    if i < 8:\n"
        "        register(Model, {**d, 'version': '1.1.0'})\n"
        "        Alias.move(Model.objects.get(name=d['name']), 'champion', '1.0.0')\n"
        "    if i == 0:\n"
        "        activate(v)\n"
        "        for k, region in enumerate(('us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1') * 2):\n"
        "            ProviderBinding.deploy(v, provider=('openai', 'anthropic')[k // 4], provider_model_id='m',\n"
        "                endpoint_url='https://x.example/v1', region=region, environment='production',\n"
        "                cost_per_1k_input_tokens=0.5 + k / 10, cost_per_1k_output_tokens=1)\n"
        "get_user_model().objects.create_superuser('bench', 'bench@example.invalid', 'bench-password-1')\n"
        "from bindings_app.models import ProviderBinding as B\n"
        "print(B.objects.order_by('pk').values_list('pk', flat=True).first())\n"
    )
    binding = manage(ENV, "shell", "-c", script).strip().splitlines()[-1]
    return manage(ENV, "create_api_key", "bench").strip().splitlines()[-1], binding


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def web_pids(port: int) -> list[int]:
    """The gunicorn master serving ``port`` and its workers."""
    found = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True).stdout.split()
    pids = [int(p) for p in found]
    for pid in list(pids):
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            pids += [int(c) for c in children.read_text().split()]
    return sorted(set(pids))


def backend_pids(admin: psycopg.Connection) -> list[int]:
    return [
        pid
        for (pid,) in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).fetchall()
    ]


NUMBERS = itertools.count(1)  # registered versions' minor numbers, across rounds


def scenarios(binding: str):
    def register(worker: int, seq: int):
        doc = copy.deepcopy(EXAMPLE)
        doc["name"] = f"bench-w{worker}"
        doc["version"] = f"2.{next(NUMBERS)}.0"  # a new version every time (next() on a count is atomic)
        return "POST", "/api/v1/models", doc

    def alias(worker: int, seq: int):
        return "PUT", f"/api/v1/models/seed-{worker:04d}/aliases/champion", {"version": ("1.0.0", "1.1.0")[seq % 2]}

    def report(worker: int, seq: int):
        return "POST", f"/api/v1/bindings/{binding}/report", [{"success": True, "latency_ms": 120}]

    return [
        (
            "read latest (GET /models/{name})",
            400,
            lambda w, s: ("GET", f"/api/v1/models/seed-{abs(s) % 200:04d}", None),
        ),
        (
            "read by alias (GET /models/{name}?version=@champion)",
            300,
            lambda w, s: ("GET", "/api/v1/models/seed-0001?version=@champion", None),
        ),
        ("list 100 (GET /models?limit=100)", 60, lambda w, s: ("GET", "/api/v1/models?limit=100", None)),
        (
            "route (GET /route, 8 bindings)",
            200,
            lambda w, s: ("GET", "/api/v1/route?model=seed-0000&environment=production&region=us-east-1", None),
        ),
        ("register a version (POST /models)", 100, register),
        ("alias move (PUT .../aliases/champion)", 100, alias),
        ("binding report, 1 outcome", 100, report),
    ]


def main() -> None:
    recreate_database(DATABASE_URL)
    rows: dict[str, list[tuple]] = {}
    try:
        key, binding = seed()
        headers = {"Authorization": f"Api-Key {key}"}
        with gunicorn(ENV, workers=2) as port, psycopg.connect(DATABASE_URL, autocommit=True) as admin:
            web = web_pids(port)
            for _ in range(int(os.environ.get("ROUNDS", "2"))):
                for name, each, factory in scenarios(binding):
                    run_load(name, "127.0.0.1", port, headers, factory, concurrency=CLIENTS, requests_per_worker=5)
                    backends = backend_pids(admin)
                    web_before, db_before = cpu_seconds(web), cpu_seconds(backends)
                    result = run_load(
                        name,
                        "127.0.0.1",
                        port,
                        headers,
                        factory,
                        concurrency=CLIENTS,
                        requests_per_worker=each,
                        warmup=0,
                    )
                    web_ms = (cpu_seconds(web) - web_before) * 1000 / result.requests
                    db_ms = (cpu_seconds(backends) - db_before) * 1000 / result.requests
                    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(result.statuses.items()))
                    rows.setdefault(name, []).append(
                        (
                            result.requests,
                            result.rps,
                            result.percentile(50),
                            result.percentile(99),
                            web_ms,
                            db_ms,
                            statuses,
                        )
                    )
    finally:
        recreate_database(DATABASE_URL, create=False)
    print(f"load average: {os.getloadavg()[0]:.1f} (1 min) at the end; {os.cpu_count()} cores")
    print(
        "| request | requests | req/s (wall) | p50 ms | p99 ms | web CPU ms/req | DB CPU ms/req | per web core-s | statuses (last round) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, samples in rows.items():
        med = [statistics.median(s[i] for s in samples) for i in range(6)]
        print(
            f"| {name} | {sum(s[0] for s in samples)} | {med[1]:,.0f} | {med[2]:.1f} | {med[3]:.1f} | {med[4]:.2f} |"
            f" {med[5]:.2f} | {1000 / med[4]:,.0f} | {samples[-1][6]} |"
        )


if __name__ == "__main__":
    main()
