"""Validation cost of documents at (and beyond) the size limits, in-process: the issue #7 DoS shapes.

    DATABASE_URL=postgresql://.../registry_bench python bench/hostile_documents.py

Each figure is the median of 5 runs of ``validator.check`` (no database writes; the pipeline check's model
lookup is one query). Figures go into docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_project.settings")
os.environ.setdefault("DEBUG", "true")

import django  # noqa: E402

django.setup()

from models_app.validation import model_validator  # noqa: E402
from pipelines_app.validation import pipeline_validator  # noqa: E402
from policies_app.validation import policy_validator  # noqa: E402


def rbac(i: int) -> dict:
    return {
        "subject": "user:alice",
        "resource": "api:inference",
        "actions": ["*"],
        "effect": "allow" if i % 2 else "deny",
    }


CASES = {
    "policy, 100 contradicting rbac rules (the limit)": (
        policy_validator,
        {"name": "p", "version": "1.0.0", "type": "rbac", "rules": [rbac(i) for i in range(100)]},
    ),
    "policy, 2,000 rbac rules (over the limit)": (
        policy_validator,
        {"name": "p", "version": "1.0.0", "type": "rbac", "rules": [rbac(i) for i in range(2000)]},
    ),
    "pipeline, 50 steps in a chain (the limit)": (
        pipeline_validator,
        {
            "name": "p",
            "version": "1.0.0",
            "steps": [{"id": f"s{i}", "type": "custom", "depends_on": [f"s{i - 1}"] if i else []} for i in range(50)],
        },
    ),
    "pipeline, 10,000 steps (over the limit)": (
        pipeline_validator,
        {
            "name": "p",
            "version": "1.0.0",
            "steps": [{"id": f"s{i}", "type": "inference", "depends_on": [f"s{i + 1}"]} for i in range(10_000)],
        },
    ),
    "model, 20,000 distinct objects as tags": (
        model_validator,
        {
            "name": "m",
            "version": "1.0.0",
            "artifact": {"bucket": "b", "path": "p", "format": "gguf"},
            "runtime": {"type": "custom"},
            "tags": [{"i": i} for i in range(20_000)],
        },
    ),
}

for label, (validator, document) in CASES.items():
    times, size = [], 0
    for _ in range(5):
        started = time.perf_counter()
        report = validator.check(document)
        times.append(time.perf_counter() - started)
        size = len(json.dumps(report.as_dict()))
    print(
        f"{label}: {statistics.median(times) * 1000:.1f} ms, {len(report.errors)} errors listed, report {size:,} bytes, body {len(json.dumps(document)):,} bytes"
    )
