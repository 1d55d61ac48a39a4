"""The schema tells the truth: a bounded schemathesis run (schemathesis.toml: fixed seed, one worker, no example
database, a few examples per operation, every phase including stateful, ``--checks all``) over the whole API,
against the live app on the suite's database (PostgreSQL in CI). 0 failures is the bar; the failure message ends
with schemathesis's FAILURES section (``FAILED <operation>`` lines) and the seed, and the full output is written
to ``.schemathesis-report/``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from registry_project.models import ApiKey
from tests.conftest import example

ROOT = Path(__file__).resolve().parents[2]
REPORT_DIR = Path(os.environ.get("SCHEMATHESIS_REPORT_DIR", ROOT / ".schemathesis-report"))
# Wall-clock bound for the whole run; schemathesis stops the fuzzing and stateful phases when it is spent. An
# unbounded run of the whole API takes about 650 s; the examples and coverage phases (which do not depend on the
# budget) always run in full, and only how many extra fuzzing/stateful cases run depends on the machine's speed.
MAX_SECONDS = int(os.environ.get("SCHEMATHESIS_MAX_SECONDS", "150"))


def failure_message(output: str, limit: int = 20000) -> str:
    """The end of schemathesis's output: its FAILURES section (each failing operation and the reproducing curl),
    the summary with the `FAILED <operation>` lines and the seed; cut from the front when too long."""
    start = output.find("FAILURES")
    tail = output[start:] if start >= 0 else output
    if len(tail) > limit:
        summary = tail.rfind("SUMMARY")
        head_room = limit - (len(tail) - summary) if summary >= 0 else limit
        tail = (tail[:max(head_room, 0)] + "\n...\n" + tail[summary:]) if summary >= 0 else tail[-limit:]
    return tail


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
    REPORT_DIR.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(schema_file), "--url", live_server.url, "--checks", "all",
         "--header", f"Authorization: Api-Key {key}", *(["--max-time", str(MAX_SECONDS)] if MAX_SECONDS else []), "--no-color",
         "--output-truncate", "true", "--report", "junit", "--report-dir", str(REPORT_DIR)],
        cwd=ROOT, capture_output=True, text=True, timeout=(MAX_SECONDS or 600) * 4 + 120,
    )
    output = done.stdout + ("\n" + done.stderr if done.stderr else "")
    (REPORT_DIR / "output.txt").write_text(re.sub(re.escape(key), "<api key>", output))
    assert done.returncode == 0, failure_message(output.replace(key, "<api key>"))
