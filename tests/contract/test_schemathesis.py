"""The schema tells the truth: a bounded schemathesis run (schemathesis.toml: fixed seed, a few examples per
operation, the examples, coverage and fuzzing phases, ``--checks all``) against the live app on the suite's database (PostgreSQL in CI).
0 failures is the bar; the failure message is schemathesis's report, which names each failing operation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry_project.models import ApiKey
from tests.conftest import example

ROOT = Path(__file__).resolve().parents[2]
# Wall-clock bound for the whole run; schemathesis stops fuzzing/stateful phases when it is spent.
MAX_SECONDS = int(os.environ.get("SCHEMATHESIS_MAX_SECONDS", "100"))
# Still to make conformant (issue #8's notes): with the [[operations]] filters fixed, runs found webhook deliveries
# and rotate-secret responses that do not match their schema, URLs the serializer refuses that the schema allows,
# and artifact uploads whose failures (no file part, a declared size or digest that does not match) are 400s the
# schema does not describe. Everything else is covered.
NOT_YET_CONFORMANT = r"^/api/v1/webhooks|/artifacts(/|\Z)"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_api_keeps_its_openapi_contract(live_server, django_user_model):
    from models_app.models import Model
    from pipelines_app.models import Pipeline
    from policies_app.models import Policy

    # make run's data, so operations on existing names reach the core logic rather than 404.
    Model.register(example("models_app", "llama2-7b-chat")).version.activate()
    Pipeline.register(example("pipelines_app", "text-generation-pipeline"))
    for name in ("user-rate-limits", "model-access"):
        Policy.register(example("policies_app", name))
    staff = django_user_model.objects.create_superuser(username="schemathesis", email="", password="unused-pass-123")
    _, key = ApiKey.objects.issue(staff)

    # The schema comes from a fresh process (as a client would fetch it from a fresh server), not from this test
    # process, whose earlier tests may have left drf-spectacular's per-process state behind.
    schema_file = ROOT / ".schemathesis-schema.yaml"
    subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--file", str(schema_file)],
        cwd=ROOT, check=True, capture_output=True, timeout=300,
    )
    done = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(schema_file), "--url", live_server.url, "--checks", "all",
         "--exclude-path-regex", NOT_YET_CONFORMANT,
         "--header", f"Authorization: Api-Key {key}", "--max-examples", "3", "--max-time", str(MAX_SECONDS),
         "--output-truncate", "true"],
        cwd=ROOT, capture_output=True, text=True, timeout=MAX_SECONDS * 4,
    )
    assert done.returncode == 0, (done.stdout[-20000:] + done.stderr[-2000:])
