"""Exactly one beat, enforced (registry_project/beat.py): two real ``celery beat`` processes on one broker (a private
redis-server); the second exits with status 1 and says why, the first keeps its lock past the lock's TTL by renewing
it, releases it when stopped, and a beat killed outright leaves a lock that expires by itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from registry_project.beat import LOCK_KEY
from tests.servers import ROOT, private_redis, wait_for

pytestmark = [pytest.mark.redis]

TTL_SECONDS = 4


def start_beat(broker: str, folder: Path, name: str) -> tuple[subprocess.Popen, Path]:
    log = folder / f"{name}.log"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")},
        "CELERY_BROKER_URL": broker,
        "BEAT_LOCK_TTL_SECONDS": str(TTL_SECONDS),
        "CELERY_BEAT_SCHEDULE_FILENAME": str(folder / f"{name}-schedule"),
        "SECRET_KEY": "integration",
        "DEBUG": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "registry_project", "--quiet", "beat", "--loglevel", "INFO"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, log


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.wait()


def test_a_second_beat_refuses_to_run_and_a_dead_beats_lock_expires(tmp_path):
    with private_redis() as (port, _):
        broker = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(broker)
        # Two beats started together: one takes the lock, the other exits with status 1 and names the holder.
        beats = [start_beat(broker, tmp_path, name) for name in ("one", "two")]
        try:
            assert wait_for(lambda: any(beat.poll() is not None for beat, _ in beats), 90)
            (refused, refused_log), (first, first_log) = sorted(beats, key=lambda beat: beat[0].poll() is None)
            assert refused.wait(timeout=10) == 1 and first.poll() is None, first_log.read_text()
            holder = client.get(LOCK_KEY).decode()
            assert f"pid {first.pid}" in holder
            refusal = refused_log.read_text()
            assert "another beat holds the beat lock" in refusal and holder in refusal, refusal

            # Well past the TTL the first beat still runs and still holds the lock: it renews it.
            time.sleep(1.5 * TTL_SECONDS)
            assert first.poll() is None and client.get(LOCK_KEY).decode() == holder, first_log.read_text()
        finally:
            for beat, _ in beats:
                stop(beat, signal.SIGKILL)
        # Killed without a word, it leaves its lock behind for one TTL at most; then a replacement starts.
        assert client.exists(LOCK_KEY)
        assert wait_for(lambda: not client.exists(LOCK_KEY), TTL_SECONDS + 2)

        replacement, replacement_log = start_beat(broker, tmp_path, "replacement")
        try:
            assert wait_for(lambda: client.exists(LOCK_KEY) or replacement.poll() is not None, 60)
            assert f"pid {replacement.pid}" in client.get(LOCK_KEY).decode(), replacement_log.read_text()
        finally:
            stopped = stop(replacement)
        assert stopped == 0 and not client.exists(LOCK_KEY), replacement_log.read_text()  # released on stop
