"""Benchmark pipeline validation and execution order in-process, on a generated 50-step / 200-edge DAG.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/registry_bench .venv/bin/python bench/pipeline_validation.py

The model-reference rule reads the database, so the benchmark creates a throw-away test database (Django's
``test_<name>``, dropped afterwards) from DATABASE_URL (SQLite when unset) and registers the model the steps
name. It reports the median and p99 per document for: the whole validation (schema + every rule, including the
one model-lookup query), the same document with no model references (pure CPU), and the execution order.
Paste the table into docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_project.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

STEPS, EDGES, MODEL_STEPS = 50, 200, 8
ROUNDS, WARMUP = 1000, 50
MODEL = json.loads((ROOT / "models_app" / "examples" / "llama2-7b-chat.json").read_text())


def generated_pipeline(with_models: bool, seed: int = 7) -> dict:
    """A DAG with exactly ``EDGES`` dependencies, each from a later step to an earlier one (so acyclic)."""
    rng = random.Random(seed)
    pairs = rng.sample([(i, j) for i in range(STEPS) for j in range(i)], EDGES)
    depends_on: dict[int, list[str]] = {i: [] for i in range(STEPS)}
    for i, j in sorted(pairs):
        depends_on[i].append(f"step-{j:02d}")
    steps = []
    for i in range(STEPS):
        step = {
            "id": f"step-{i:02d}",
            "type": "custom",
            "config": {"n": i},
            "depends_on": depends_on[i],
            "timeout_seconds": 1 + i % 7,
            "retry_count": i % 3,
        }
        if with_models and i % (STEPS // MODEL_STEPS) == 0:
            step.update(type="inference", model=MODEL["name"] if i % 2 else f"{MODEL['name']}@{MODEL['version']}")
        steps.append(step)
    return {"name": "bench-pipeline", "version": "1.0.0", "timeout_seconds": 3600, "max_parallel": 4, "steps": steps}


def measure(label: str, fn) -> tuple[str, float, float]:
    for _ in range(WARMUP):
        fn()
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return label, statistics.median(samples) * 1000, samples[int(len(samples) * 0.99) - 1] * 1000


def main() -> None:
    from kernel.writes.register import register
    from models_app.models import Model
    from pipelines_app.dag import StepGraph
    from pipelines_app.validation import pipeline_validator

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        register(Model, MODEL)
        with_models, without_models = generated_pipeline(True), generated_pipeline(False)
        report = pipeline_validator.check(with_models)
        assert report.valid, report.errors
        graph = StepGraph.from_steps(with_models["steps"])
        assert len(graph) == STEPS and graph.edge_count == EDGES

        rows = [
            measure(
                "validate, 8 model references (schema + rules + 1 query)", lambda: pipeline_validator.check(with_models)
            ),
            measure(
                "validate, no model references (schema + rules, no I/O)",
                lambda: pipeline_validator.check(without_models),
            ),
            measure("JSON Schema only", lambda: list(pipeline_validator.schema_issues(with_models))),
            measure(
                "execution order (build graph + levels + batches + critical path)",
                lambda: StepGraph.from_steps(with_models["steps"]).execution_order(with_models["max_parallel"]),
            ),
            measure(
                "validate + execution order, no model references",
                lambda: (
                    pipeline_validator.check(without_models),
                    StepGraph.from_steps(without_models["steps"]).execution_order(4),
                ),
            ),
            measure(
                "validate + execution order, 8 model references",
                lambda: (
                    pipeline_validator.check(with_models),
                    StepGraph.from_steps(with_models["steps"]).execution_order(4),
                ),
            ),
        ]
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    print(
        f"{STEPS} steps, {EDGES} edges, {ROUNDS} rounds; database: {connection.vendor}; Python {sys.version.split()[0]}\n"
    )
    print("| operation (one document) | median ms | p99 ms |")
    print("|---|---:|---:|")
    for label, median, p99 in rows:
        print(f"| {label} | {median:.3f} | {p99:.3f} |")


if __name__ == "__main__":
    main()
