"""Benchmark policy decisions against 1,000 active policies with 10 rules each (10,000 rules).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/registry_bench_policies \
    REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/policy_evaluation.py

Creates (and recreates on the next run) the database named in DATABASE_URL, registers the policies through
``Policy.register`` (the API's own path), then reports:

- in-process evaluations/s of ``Policy.evaluate`` (the compiled index, one cache GET per call for freshness),
  single-threaded, and the same with request validation and serialisation as the API does them;
- over HTTP: gunicorn (2 workers) on PostgreSQL, 4 keep-alive clients, requests/s and p50/p99.

Targets (issue 4): >= 2,000 evaluations/s in-process, p99 < 20 ms over HTTP on a 2-core machine.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_load import TABLE_HEADER, gunicorn, recreate_database, run_load  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/registry_bench_policies")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13")
ENV = {
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "DEBUG": "false",
    "SECRET_KEY": "bench",
    "ALLOWED_HOSTS": "127.0.0.1",
}
POLICIES, RULES = 1000, 10
TYPES = ("rbac", "rate_limit", "quota")


def policy_document(i: int) -> dict:
    """Policy i: a mix of exact, prefix-wildcard, whole-name and '*' patterns, as a real registry would hold."""
    policy_type = TYPES[i % 3]
    rules = []
    for j in range(RULES):
        if j < 6:
            resource = f"model:m{i}-{j}"  # exact
        elif j < 8:
            resource = f"model:fam{i % 100}-{j}*"  # prefix wildcard
        elif j == 8:
            resource = f"api:svc{i % 20}"  # exact, shared by many policies
        else:
            resource = "*" if i % 10 == 0 else f"dataset:d{i}-*"
        who = (f"user:u{i % 200}", f"role:r{i % 50}", "user:*", "*")[j % 4]
        if policy_type == "rbac":
            rule = {
                "subject": who,
                "resource": resource,
                "actions": [("read", "write", "deploy", "*")[j % 4]],
                "effect": "deny" if (i + j) % 7 == 0 else "allow",
            }
        elif policy_type == "rate_limit":
            rule = {
                "entity": who,
                "resource": resource,
                "requests": 10 + i + j,
                "window_seconds": 60,
                "burst": 20 + i + j,
            }
        else:
            rule = {"entity": who, "resource": resource, "limit": 1000 * (j + 1), "period": "day", "unit": "tokens"}
        rules.append(rule)
    return {
        "name": f"policy-{i:04d}",
        "version": "1.0.0",
        "type": policy_type,
        "priority": i % 1000,
        "enforcement": "soft" if i % 9 == 0 else "hard",
        "rules": rules,
    }


def random_request(rng: random.Random) -> dict:
    i = rng.randrange(POLICIES)
    resource = rng.choice(
        (
            f"model:m{i}-{rng.randrange(6)}",
            f"model:fam{i % 100}-{rng.choice((6, 7))}-x",
            f"api:svc{i % 20}",
            f"dataset:d{i}-train",
            "api:inference",
        )
    )
    return {
        "entity": f"user:u{rng.randrange(400)}",
        "resource": resource,
        "action": rng.choice(("read", "write", "deploy")),
        "roles": [f"role:r{rng.randrange(60)}"],
    }


def setup_django() -> None:
    os.environ.update(ENV)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_project.settings")
    import django

    django.setup()


def seed() -> str:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from kernel.writes.register import register
    from policies_app.models import Policy

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    for i in range(POLICIES):
        register(Policy, policy_document(i))
    print(f"registered {POLICIES} policies x {RULES} rules in {time.perf_counter() - started:.1f} s")
    user = get_user_model().objects.create_user("bench", password="bench-password-1")
    from kernel.models import ApiKey

    _, key = ApiKey.objects.issue(user, read_only=True)
    return key


def in_process(rng: random.Random) -> list[str]:
    from policies_app.evaluation import Decision, evaluator
    from policies_app.models import Policy
    from policies_app.validation import evaluation_request_issues

    requests = [random_request(rng) for _ in range(5000)]
    started = time.perf_counter()
    index = evaluator.rule_index()
    compile_ms = (time.perf_counter() - started) * 1000
    lines = [
        f"compile {index.policies} policies / {index.rules} rules: {compile_ms:.0f} ms (once per change, per process)"
    ]

    for body in requests[:500]:  # warm up: the cache connection, the interpreter's caches
        Policy.evaluate(body["entity"], body["resource"], body["action"], body["roles"])

    started = time.perf_counter()
    for body in requests:
        identities = (body["entity"], *body["roles"])
        Decision.resolve([r for r in index.candidates(body["resource"]) if r.applies_to(identities, body["action"])])
    elapsed = time.perf_counter() - started
    lines.append(f"decision only (index in hand, no freshness check): {len(requests) / elapsed:,.0f} evaluations/s")

    started = time.perf_counter()
    matched = 0
    for body in requests:
        matched += len(Policy.evaluate(body["entity"], body["resource"], body["action"], body["roles"]).matched)
    elapsed = time.perf_counter() - started
    lines.append(
        f"Policy.evaluate: {len(requests) / elapsed:,.0f} evaluations/s ({elapsed / len(requests) * 1e6:.0f} us each, "
        f"{matched / len(requests):.1f} matched rules on average)"
    )

    started = time.perf_counter()
    for body in requests:
        assert not evaluation_request_issues(body)
        Policy.evaluate(body["entity"], body["resource"], body["action"], body["roles"]).as_dict()
    elapsed = time.perf_counter() - started
    lines.append(f"validate + evaluate + serialise: {len(requests) / elapsed:,.0f} evaluations/s")
    return lines


def main() -> None:
    recreate_database(DATABASE_URL)
    setup_django()
    key = seed()
    rng = random.Random(4)
    for line in in_process(rng):
        print(line)

    headers = {"Authorization": f"Api-Key {key}"}
    bodies = [random_request(rng) for _ in range(4096)]
    rows = []
    with gunicorn(ENV, workers=2) as port:
        rows.append(
            run_load(
                "evaluate (POST /api/v1/policies/evaluate)",
                "127.0.0.1",
                port,
                headers,
                lambda w, s: ("POST", "/api/v1/policies/evaluate", bodies[(w * 1000 + s) % len(bodies)]),
                concurrency=4,
                requests_per_worker=1000,
                warmup=20,
            )
        )
        rows.append(
            run_load(
                "evaluate, 1 client",
                "127.0.0.1",
                port,
                headers,
                lambda w, s: ("POST", "/api/v1/policies/evaluate", bodies[s % len(bodies)]),
                concurrency=1,
                requests_per_worker=1000,
                warmup=20,
            )
        )
    print(TABLE_HEADER)
    for row in rows:
        print(row.row())


if __name__ == "__main__":
    main()
