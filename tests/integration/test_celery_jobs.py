"""A real Celery worker and beat against Redis and PostgreSQL: beat's schedule drives retention and the stats
refresh, with one-second intervals, and the test watches the database for their effect."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connection

from kernel.models import StatsSnapshot
from kernel.writes.register import register
from models_app.models import Model, ModelVersion

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "registry_project", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(condition, seconds: float = 120) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_beat_schedules_retention_and_stats_refresh_on_a_real_worker(model_doc, settings, tmp_path):
    for version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0"):
        register(Model, model_doc(name="scheduled", version=version, retention_keep=1, family="llama"))
    assert not StatsSnapshot.objects.exists()
    broker = settings.REDIS_URL
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": broker,
        "RETENTION_INTERVAL_SECONDS": "1",
        "STATS_REFRESH_SECONDS": "1",
        "CELERY_BEAT_SCHEDULE_FILENAME": str(tmp_path / "beat-schedule"),
        "SECRET_KEY": "integration",
        "DEBUG": "false",
    }
    worker = start(
        ["worker", "--pool", "solo", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
        env,
        tmp_path / "worker.log",
    )
    beat = start(["beat", "--loglevel", "INFO"], env, tmp_path / "beat.log")
    try:
        archived = wait_for(lambda: ModelVersion.objects.filter(status="archived").count() == 3)
        refreshed = wait_for(
            lambda: StatsSnapshot.objects.filter(data__models__versions_by_status__archived=3).exists()
        )
    finally:
        for process in (beat, worker):
            os.killpg(process.pid, signal.SIGTERM)
        for process in (beat, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        redis.Redis.from_url(broker).delete("celery", "webhooks")  # beat also queues deliver_webhooks there
    logs = "\n".join(f"--- {name}\n{(tmp_path / name).read_text()[-3000:]}" for name in ("worker.log", "beat.log"))
    assert archived, logs
    assert refreshed, logs
    assert ModelVersion.objects.get(model__name="scheduled", status="active").version == "1.3.0"
    assert "models_app.tasks.apply_retention" in (tmp_path / "worker.log").read_text()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_retention_run_killed_midway_and_run_again_ends_as_one_run(model_doc, tmp_path):
    from django.db import transaction

    for index in range(6):
        for version in ("1.0.0", "1.1.0", "1.2.0"):
            register(Model, model_doc(name=f"m{index}", version=version))
    blocker = Model.objects.get(name="m3")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "RETENTION_BATCH_MODELS": "1",
        "SECRET_KEY": "integration",
        "DEBUG": "false",
    }
    env.pop("CELERY_BROKER_URL", None)
    log = tmp_path / "retention.log"

    with transaction.atomic():
        # Hold m3's row: the run commits m0..m2 batch by batch, then waits on this lock until it is killed.
        Model.objects.select_for_update().get(pk=blocker.pk)
        run = subprocess.Popen(
            [sys.executable, "manage.py", "apply_retention", "--keep", "1"],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            reached = wait_for(
                lambda: ModelVersion.objects.filter(status="archived").count() == 6 or run.poll() is not None
            )
        finally:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=30)
    assert reached and run.returncode == -signal.SIGKILL, log.read_text()
    archived = set(ModelVersion.objects.filter(status="archived").values_list("model__name", flat=True))
    assert archived == {"m0", "m1", "m2"}  # whole batches only

    Model.objects.apply_retention(keep=1)  # the redelivered run

    final = sorted(ModelVersion.objects.filter(status="archived").values_list("model__name", "version"))
    assert final == sorted((f"m{i}", v) for i in range(6) for v in ("1.0.0", "1.1.0"))
