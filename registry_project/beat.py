"""Exactly one beat: the scheduler takes a lock in the broker's Redis before it schedules anything, or exits.

Two beats would each send every scheduled task (retention, the stats refresh and the webhook relay would run twice
as often: safe, as every task is idempotent, but wasteful), and nothing in Celery stops a second one. So the beat's
scheduler (``CELERY_BEAT_SCHEDULER``) takes a Redis lock with a time to live (``BEAT_LOCK_TTL_SECONDS``) when it
starts; a second beat finds the lock held, logs which beat holds it and exits with status 1. The holder renews the
lock on every pass of its loop (passes are at most a third of the TTL apart), releases it when it stops, and if it
dies the lock expires by itself, so a replacement starts within one TTL. A beat that finds its lock gone (its
renewals failed for longer than the TTL, and another beat may have taken over) stops too, rather than run as a
second beat.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

import redis
from celery.beat import PersistentScheduler
from django.conf import settings
from redis.exceptions import LockNotOwnedError, RedisError

logger = logging.getLogger("registry.beat")

LOCK_KEY = "registry:celery-beat"
# The lock this process holds, shared by every scheduler Celery builds in it.
_held = None


class BeatAlreadyRunning(SystemExit):
    """Raised at start when another beat holds the lock: exits the beat process with status 1."""

    def __init__(self, message: str):
        super().__init__(1)
        self.message = message


class SingleBeatScheduler(PersistentScheduler):
    """Celery's file-backed scheduler that runs only while it holds the beat lock."""

    def setup_schedule(self):
        global _held
        # Celery may build a second scheduler in the same process (a SIGTERM during start-up makes its handler close
        # a scheduler not stored yet): it shares the lock this process holds.
        if _held is None:
            _held = take_lock()
        self.beat_lock = _held
        # Renewed on every pass of the loop, so a pass must come well within the TTL.
        self.max_interval = min(self.max_interval, settings.BEAT_LOCK_TTL_SECONDS / 3)
        super().setup_schedule()

    def tick(self, *args, **kwargs):
        try:
            self.beat_lock.reacquire()
        except LockNotOwnedError:
            logger.critical("beat lock lost (not renewed within its TTL; another beat may run now): this beat stops")
            raise SystemExit(1) from None
        except RedisError as error:  # Redis briefly away: renew on the next pass, while the TTL lasts
            logger.warning("beat lock not renewed: %s", error)
        return super().tick(*args, **kwargs)

    def close(self):
        try:
            super().close()
        finally:
            self._release()

    def _release(self) -> None:
        global _held
        lock, self.beat_lock = getattr(self, "beat_lock", None), None
        if lock is None or lock is not _held:  # never set up (lazy), closed already, or released by another
            return
        _held = None
        try:
            lock.release()
            logger.info("beat lock released")
        except (LockNotOwnedError, RedisError) as error:  # expired already, or Redis away: the TTL ends it
            logger.warning("beat lock not released: %s", error)


def take_lock() -> redis.lock.Lock:
    """The beat lock, taken for this process, or ``BeatAlreadyRunning`` naming the beat that holds it."""
    ttl = settings.BEAT_LOCK_TTL_SECONDS
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5, socket_connect_timeout=5)
    holder = f"{socket.gethostname()} pid {os.getpid()} ({uuid.uuid4().hex[:8]})"
    lock = client.lock(LOCK_KEY, timeout=ttl, thread_local=False)
    if not lock.acquire(blocking=False, token=holder):
        other = (client.get(LOCK_KEY) or b"?").decode(errors="replace")
        message = (
            f"another beat holds the beat lock ({other}, Redis key {LOCK_KEY!r}): exactly one beat may run, so this"
            f" one exits. If that beat is gone, its lock expires within {ttl} s (BEAT_LOCK_TTL_SECONDS)."
        )
        logger.error(message)
        raise BeatAlreadyRunning(message)
    logger.info("beat lock taken by %s (expires %s s after its last renewal)", holder, ttl)
    return lock
