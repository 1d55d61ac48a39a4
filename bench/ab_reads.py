"""A fast path's gain, A/B in one sitting: document reads (GET /api/v1/models/{name}) served by gunicorn from two
checkouts on one database, alternating rounds (ABBA...) with fresh servers each round, at one and eight clients; prints each side's p50 per round
and the ratio of the medians. The rule of kernel/fastpaths/README.md: a fast path that saves under 15 % of the
request, measured this way, is removed.

    git worktree add /tmp/without HEAD   # then switch the fast path off there
    ROUNDS=10 .venv/bin/python bench/ab_reads.py "$PWD" /tmp/without

Both checkouts need a .venv (a symlink to this one's is enough). The database reg_ab is dropped and created afresh.
Traffic goes only to the two loopback servers it started.
"""

import os
import statistics
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

A, B = Path(sys.argv[1]), Path(sys.argv[2])
sys.path.insert(0, str(A))
from bench.http_load import gunicorn, run_load  # noqa: E402  (the checkout A's copy)

DB = "postgresql://postgres@127.0.0.1:5432/reg_ab"
ENV = {
    **os.environ,
    "DATABASE_URL": DB,
    "DEBUG": "false",
    "SECRET_KEY": "bench",
    "ALLOWED_HOSTS": "127.0.0.1",
    "API_RATE_LIMIT": "100000000/min",
    "API_CHECK_RATE_LIMIT": "100000000/min",
    "SECURE_SSL_REDIRECT": "false",
    "REDIS_URL": "redis://127.0.0.1:6379/9",
}
PY = str(A / ".venv/bin/python")
subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", "DROP DATABASE IF EXISTS reg_ab"], check=True)
subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", "CREATE DATABASE reg_ab"], check=True)
subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=A, env=ENV, check=True)
seed = (
    "import json, copy\nfrom django.contrib.auth import get_user_model\nfrom models_app.models import Model\n"
    "from kernel.writes.register import register\nfrom kernel.models import ApiKey\n"
    "doc = json.load(open('models_app/examples/llama2-7b-chat.json'))\n"
    "for i in range(50):\n    d = copy.deepcopy(doc); d['name'] = f'seed-{i:04d}'; register(Model, d)\n"
    "u = get_user_model().objects.create_superuser('bench', 'b@example.invalid', 'bench-password-1')\n"
    "print(ApiKey.objects.issue(u)[1])\n"
)
key = (
    subprocess.run([PY, "manage.py", "shell", "-c", seed], cwd=A, env=ENV, check=True, capture_output=True, text=True)
    .stdout.strip()
    .splitlines()[-1]
)


def read(worker: int, seq: int) -> tuple[str, str, None]:
    return "GET", f"/api/v1/models/seed-{(worker * 7 + seq) % 50:04d}", None


headers = {"Authorization": f"Api-Key {key}"}
results: dict[tuple[str, int], list[float]] = {(side, c): [] for side in "AB" for c in (1, 8)}
for rnd in range(int(os.environ.get("ROUNDS", "6"))):
    # Fresh servers every round: one process's speed depends on its own layout in memory (the same code in two
    # processes can differ by 10-20 % for its whole life), so a side keeps no process across rounds.
    with ExitStack() as stack:
        order = "AB" if rnd % 2 == 0 else "BA"
        ports = {side: stack.enter_context(gunicorn(ENV, root=A if side == "A" else B)) for side in order}
        for side in order:
            for c in (1, 8):
                per_worker = 400 if c == 1 else 100
                r = run_load(
                    "read", "127.0.0.1", ports[side], headers, read, concurrency=c, requests_per_worker=per_worker
                )
                assert set(r.statuses) == {200}, r.statuses
                results[(side, c)].append(statistics.median(r.latencies_ms))
for c in (1, 8):
    a, b = statistics.median(results[("A", c)]), statistics.median(results[("B", c)])
    print(
        f"c={c}: A p50 {a:.2f} ms (rounds {[round(x, 2) for x in results[('A', c)]]}), B p50 {b:.2f} ms "
        f"(rounds {[round(x, 2) for x in results[('B', c)]]}); B/A = {b / a:.3f}"
    )
