"""A real Celery worker and beat, started as compose.yaml and docs/production.md start them, log what the web
process logs: one JSON object per line (LOG_FORMAT=json, the production default), and the lines a task logs while
it runs name it (``task_name``, ``task_id``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import redis

from tests.integration.test_celery_jobs import database_url, start, wait_for

# The one line that is not logged: Celery writes it from its SIGTERM handler with os.write, where logging is not
# safe (docs/operations.md says so).
SHUTDOWN_NOTICE = re.compile(r"worker: (Warm|Cold) shutdown \(MainProcess\)")


def json_lines(log: Path) -> list[dict]:
    """Every complete line of ``log`` as JSON; raises (naming the line) on the first that is not."""
    text = log.read_text()
    complete = text[: text.rfind("\n") + 1]  # a line still being written is left for the next look
    parsed = []
    for line in complete.splitlines():
        if line.strip() and not SHUTDOWN_NOTICE.fullmatch(line):
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"{log.name}: not a JSON line: {line[:200]!r}") from None
    return parsed


def finished_task(log: Path, name: str) -> dict | None:
    return next((line for line in json_lines(log) if line.get("task_name") == name), None)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_worker_and_beat_write_only_json_lines_and_a_tasks_lines_name_it(settings, tmp_path):
    broker = settings.REDIS_URL
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("LOG_FORMAT", "LOG_LEVEL")},
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": broker,
        "STATS_REFRESH_SECONDS": "1",
        "CELERY_BEAT_SCHEDULE_FILENAME": str(tmp_path / "beat-schedule"),
        "SECRET_KEY": "integration",
        "DEBUG": "false",
    }
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    # The commands compose.yaml runs (--quiet: no startup banner, which is printed, not logged), with a solo pool.
    worker = start(["--quiet", "worker", "--pool", "solo", "--loglevel", "INFO", "--without-gossip"], env, worker_log)
    beat = start(["--quiet", "beat", "--loglevel", "INFO"], env, beat_log)
    try:
        ran = wait_for(lambda: finished_task(worker_log, "kernel.tasks.refresh_stats") is not None, seconds=90)
    finally:
        for process in (beat, worker):
            os.killpg(process.pid, signal.SIGTERM)
        for process in (beat, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        redis.Redis.from_url(broker).delete("celery")
    assert ran, worker_log.read_text()[-3000:]

    worker_lines, beat_lines = json_lines(worker_log), json_lines(beat_log)
    succeeded = [
        line
        for line in worker_lines
        if line.get("task_name") == "kernel.tasks.refresh_stats" and "succeeded" in line["event"]
    ]
    assert succeeded, worker_lines[-20:]
    assert succeeded[0]["task_id"] and succeeded[0]["level"] == "info" and succeeded[0]["timestamp"]
    assert any(line["logger"] == "celery.beat" and "kernel.tasks.refresh_stats" in line["event"] for line in beat_lines)
