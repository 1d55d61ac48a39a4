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

from kernel.models import ApiKey
from kernel.writes.lifecycle import activate
from kernel.writes.register import register
from tests.conftest import example

ROOT = Path(__file__).resolve().parents[2]
REPORT_DIR = Path(os.environ.get("SCHEMATHESIS_REPORT_DIR", ROOT / ".schemathesis-report"))
# Wall-clock bound for the whole run (0: none). The examples and coverage phases enumerate a fixed set of cases and
# the fuzzing and stateful phases draw from the fixed seed, one worker, no example database, so a run is the same
# sequence of requests on every machine; the bound only cuts that sequence short (and, when time is left, lets the
# fuzzing and stateful phases draw more). An unbounded run of the whole API takes 11 to 14 minutes, nearly all of it
# the coverage phase, so a 150 s run covers a prefix of it that depends on the machine's speed, and a fast machine
# spends what is left on extra fuzzing/stateful cycles that a slow one never draws. So a green run here is not proof
# for a faster machine: after changing the schema or the API, run `SCHEMATHESIS_MAX_SECONDS=0 pytest
# tests/contract/test_schemathesis.py` (every coverage case) and one 150 s run on an idle machine (most extra cycles).
# schemathesis splits the bound: a third to the coverage phase and the rest to fuzzing and stateful, each phase's
# share split evenly over the operations, so every operation gets its turn in every phase whatever the bound (the
# test also fails if schemathesis reports an operation untested). 90 s, down from 150 s to keep the suite well under
# 10 minutes on the 2-core machine, gives each operation 0.3 s of coverage cases instead of 0.5 s and fewer extra
# fuzzing/stateful cycles; the examples phase, the 4 fuzzed examples per operation and the 20 stateful scenarios
# fit in either.
MAX_SECONDS = int(os.environ.get("SCHEMATHESIS_MAX_SECONDS", "90"))


def untested_operations(output: str) -> str | None:
    """schemathesis's summary counts (``Selected: 100/100``, ``Tested: 100``) when it tested fewer operations
    than it selected (a bound too short to reach them all), else None."""
    selected = re.search(r"^\s*Selected: (\d+)/\d+$", output, flags=re.M)
    tested = re.search(r"^\s*Tested: (\d+)$", output, flags=re.M)
    if selected is None or tested is None:
        return "no 'Selected:'/'Tested:' counts in schemathesis's summary"
    if int(tested.group(1)) < int(selected.group(1)):
        return f"schemathesis tested {tested.group(1)} of {selected.group(1)} selected operations"
    return None


def failure_message(output: str, limit: int = 20000) -> str:
    """schemathesis's FAILURES section (each failing operation with the curl that reproduces it; cut from the
    front when too long), then a `FAILED <operation>` line per failing operation and the seed, so the last lines
    of a CI log say what failed and how to replay it."""
    start = output.find("= FAILURES =")
    end = output.find("= WARNINGS =", start) if start >= 0 else -1
    if end < 0:
        end = output.find("= SUMMARY =", max(start, 0))
    if end >= 0:
        end = output.rfind("\n", 0, end)  # the start of that heading's line
    failures = output[output.rfind("\n", 0, start) + 1 if start >= 0 else 0 : end if end >= 0 else len(output)]
    if len(failures) > limit:
        failures = "...\n" + failures[-limit:]
    operations = re.findall(r"^_{3,} (.+?) _{3,}$", failures, flags=re.M)
    seed = re.search(r"^Seed: .*$", output, flags=re.M)
    summary = [f"FAILED {operation}" for operation in operations] or [
        output.strip().splitlines()[-1] if output.strip() else "no output"
    ]
    return "\n".join([failures.rstrip(), "", *summary, seed.group(0) if seed else "Seed: (not printed)"])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_api_keeps_its_openapi_contract(live_server, django_user_model):
    from models_app.models import Model
    from pipelines_app.models import Pipeline
    from policies_app.models import Policy

    # make run's data, so operations on existing names reach the core logic rather than 404.
    activate(register(Model, example("models_app", "llama2-7b-chat")).version)
    register(Pipeline, example("pipelines_app", "text-generation-pipeline"))
    for name in ("user-rate-limits", "model-access"):
        register(Policy, example("policies_app", name))
    staff = django_user_model.objects.create_superuser(username="schemathesis", email="", password="unused-pass-123")
    _, key = ApiKey.objects.issue(staff)

    # The schema comes from a fresh process (as a client would fetch it from a fresh server), not from this test
    # process, whose earlier tests may have left drf-spectacular's per-process state behind.
    schema_file = ROOT / ".schemathesis-schema.yaml"
    subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--file", str(schema_file)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    REPORT_DIR.mkdir(exist_ok=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            str(schema_file),
            "--url",
            live_server.url,
            "--checks",
            "all",
            "--header",
            f"Authorization: Api-Key {key}",
            *(["--max-time", str(MAX_SECONDS)] if MAX_SECONDS else []),
            "--no-color",
            "--output-truncate",
            "true",
            "--report",
            "junit",
            "--report-junit-path",
            str(REPORT_DIR / "junit.xml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=(MAX_SECONDS or 600) * 4 + 120,
    )
    output = done.stdout + ("\n" + done.stderr if done.stderr else "")
    (REPORT_DIR / "output.txt").write_text(re.sub(re.escape(key), "<api key>", output))
    assert done.returncode == 0, failure_message(output.replace(key, "<api key>"))
    assert untested_operations(output) is None, untested_operations(output)
