"""One workload through MLflow's own Python client (``MlflowClient``), against whatever ``MLFLOW_TRACKING_URI``
names: a real MLflow tracking server or this registry (``MLFLOW_TRACKING_TOKEN`` carries its API key). Run with
the Python of a virtual environment that has ``mlflow`` (``bench/mlflow_client.py`` does, for both servers);
it imports nothing from this repository.

    MLFLOW_TRACKING_URI=http://127.0.0.1:8000 MLFLOW_TRACKING_TOKEN=<key> \\
        /tmp/mlflow-venv/bin/python bench/mlflow_client_workload.py --prefix run1 --out run1.json

Phases, each timed per call (the client's own retries off, so an error is counted, not hidden):
create_model (a registered model with two tags), create_version, get_version (by number), get_by_alias,
get_model (with its latest versions), search_models (by tag, up to 100 a page), search_versions (by name),
set_alias (moves), set_tag (a registered model's tag). ``--concurrency N`` runs each phase's calls on N threads,
one client each. Every answer is checked (a version number, an alias target, a search's count); a wrong answer is
a check failure, not a slow success.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from threading import local


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", required=True, help="Names start with this (a fresh one per run).")
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--versions-per-model", type=int, default=3)
    parser.add_argument("--reads", type=int, default=400)
    parser.add_argument("--searches", type=int, default=100)
    parser.add_argument("--alias-sets", type=int, default=200)
    parser.add_argument("--tag-sets", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument(
        "--no-keepalive",
        action="store_true",
        help="A new connection per call (Connection: close), as the earlier side-by-side ran: MLflow's server with "
        "--workers > 1 (uvicorn's multi-process mode) answers keep-alive calls after a ~40 ms delayed-ACK stall.",
    )
    args = parser.parse_args()
    # Bounded: a run is a few minutes at most against either server.
    limits = {"models": 1000, "versions_per_model": 20, "reads": 20000, "searches": 2000, "alias_sets": 5000}
    for name, limit in {**limits, "tag_sets": 5000, "concurrency": 32}.items():
        if not 1 <= getattr(args, name) <= limit:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and {limit}")
    return args


_clients = local()


def client():
    from mlflow import MlflowClient

    if not hasattr(_clients, "client"):
        _clients.client = MlflowClient()
    return _clients.client


def timed(name: str, calls: list, concurrency: int) -> dict:
    """Run ``calls`` (each a function returning True when its answer checks out) and time each one."""
    durations, errors, failures = [], [], 0

    def run(call) -> None:
        nonlocal failures
        started = time.perf_counter()
        try:
            ok = call()
        except Exception as exc:  # noqa: BLE001 (a benchmark counts every kind of failure)
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            return
        durations.append(time.perf_counter() - started)
        if not ok:
            failures += 1

    started = time.perf_counter()
    if concurrency == 1:
        for call in calls:
            run(call)
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(run, calls))
    elapsed = time.perf_counter() - started
    ms = sorted(d * 1000 for d in durations) or [0.0]
    return {
        "phase": name,
        "calls": len(calls),
        "ops_per_s": len(durations) / elapsed if elapsed else 0.0,
        "p50_ms": statistics.median(ms),
        "p95_ms": ms[min(len(ms) - 1, int(len(ms) * 0.95))],
        "errors": len(errors),
        "check_failures": failures,
        "first_errors": errors[:3],
    }


def workload(args: argparse.Namespace) -> list[dict]:
    prefix, c = args.prefix, args.concurrency
    names = [f"{prefix}-m{index:04d}" for index in range(args.models)]
    teams = [f"team-{index % 10}" for index in range(args.models)]
    results = []
    client().search_registered_models(max_results=1)  # the client's own set-up, outside every phase

    def create_model(index: int):
        return lambda: (
            client().create_registered_model(names[index], tags={"team": teams[index], "tier": "gold"}).name
            == names[index]
        )

    results.append(timed("create_model", [create_model(i) for i in range(args.models)], c))

    def create_version(index: int, round_: int):
        # Rounds in order (every model's version 1, then every model's 2, ...), so a model's versions are created
        # one after another unless there are fewer models than threads.
        return lambda: (
            1
            <= int(
                client()
                .create_model_version(names[index], f"s3://bench/{names[index]}/{round_}", run_id=f"r{round_}")
                .version
            )
            <= versions
        )

    versions = args.versions_per_model
    calls = [create_version(i, n) for n in range(versions) for i in range(args.models)]
    results.append(timed("create_version", calls, c))
    for index in range(args.models):
        client().set_registered_model_alias(names[index], "champion", "1")

    def get_version(index: int):
        number = str(index % versions + 1)
        return lambda: client().get_model_version(names[index % args.models], number).version == number

    def get_by_alias(index: int):
        return lambda: client().get_model_version_by_alias(names[index % args.models], "champion").version == "1"

    def get_model(index: int):
        name = names[index % args.models]
        return lambda: client().get_registered_model(name).name == name

    results.append(timed("get_version", [get_version(i) for i in range(args.reads)], c))
    results.append(timed("get_by_alias", [get_by_alias(i) for i in range(args.reads)], c))
    results.append(timed("get_model", [get_model(i) for i in range(args.reads)], c))

    expected = {team: sum(1 for t in teams if t == team) for team in set(teams)}

    def search_models(index: int):
        team = teams[index % len(teams)]
        wanted = min(expected[team], 100)
        query = f"tags.team = '{team}' AND name LIKE '{prefix}-%'"
        return lambda: len(client().search_registered_models(query, max_results=100)) == wanted

    def search_versions(index: int):
        name = names[index % args.models]
        return lambda: len(client().search_model_versions(f"name = '{name}'")) == versions

    results.append(timed("search_models", [search_models(i) for i in range(args.searches)], c))
    results.append(timed("search_versions", [search_versions(i) for i in range(args.searches)], c))

    def set_alias(index: int):
        name, number = names[index % args.models], str(index % versions + 1)
        return lambda: client().set_registered_model_alias(name, "challenger", number) is None

    def set_tag(index: int):
        name = names[index % args.models]
        return lambda: client().set_registered_model_tag(name, "owner", f"owner-{index % 7}") is None

    results.append(timed("set_alias", [set_alias(i) for i in range(args.alias_sets)], c))
    results.append(timed("set_tag", [set_tag(i) for i in range(args.tag_sets)], c))
    return results


def without_keepalive() -> None:
    """Every request the client sends asks for its connection to be closed after the answer."""
    import requests

    send = requests.Session.request

    def request(self, method, url, **kwargs):
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Connection": "close"}
        return send(self, method, url, **kwargs)

    requests.Session.request = request


def main() -> None:
    args = parse_args()
    if args.no_keepalive:
        without_keepalive()
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    started = time.time()
    results = workload(args)
    out = {
        "server": os.environ.get("MLFLOW_TRACKING_URI"),
        "prefix": args.prefix,
        "concurrency": args.concurrency,
        "keepalive": not args.no_keepalive,
        "seconds": round(time.time() - started, 1),
        "results": results,
    }
    with open(args.out, "w") as handle:
        json.dump(out, handle, indent=1)
    for row in results:
        print(
            f"{row['phase']:16} {row['ops_per_s']:8.1f}/s p50 {row['p50_ms']:7.1f} ms p95 {row['p95_ms']:7.1f} ms"
            f" errors {row['errors']} check failures {row['check_failures']} {row['first_errors'][:1]}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
