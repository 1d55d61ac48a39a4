"""Redis is an accelerator, never a dependency a request waits on (DESIGN.md).

Every cache call has a connect and socket timeout of tens of milliseconds (``REDIS_CACHE_TIMEOUT_MS``) and goes
through a circuit breaker (pybreaker): after ``fail_max`` consecutive failures the breaker opens and, for
``reset_timeout`` seconds, cache calls answer at once as a miss (reads) or a no-op (writes) without touching the
network; then one call tries again. So with Redis stalled or down a request pays at most one timeout per
``reset_timeout`` per process, and the log says once that Redis is unavailable (and once that it is back), never
once per request with a traceback. Publishing Celery tasks goes through a breaker of its own.
"""

from __future__ import annotations

import logging
from typing import Any

import pybreaker
from django.conf import settings
from django.core.cache.backends.redis import RedisCache

from registry_project.private_apis.for_django import redis_client, redis_servers

logger = logging.getLogger("registry.resilience")


class _LogTransitions(pybreaker.CircuitBreakerListener):
    """One line when the breaker opens after working, one when it closes again; retries in between are quiet."""

    def __init__(self, what: str):
        self.what = what

    def state_change(self, breaker, old, new) -> None:
        if new.name == pybreaker.STATE_OPEN and old.name == pybreaker.STATE_CLOSED:
            logger.warning(
                "%s unavailable; carrying on without it and retrying every %s s",
                self.what,
                breaker.reset_timeout,
                extra={"event": f"{breaker.name}_unavailable"},
            )
        elif new.name == pybreaker.STATE_CLOSED and old.name != pybreaker.STATE_CLOSED:
            logger.warning("%s available again", self.what, extra={"event": f"{breaker.name}_available"})


def breaker(name: str, what: str) -> pybreaker.CircuitBreaker:
    return pybreaker.CircuitBreaker(
        fail_max=settings.REDIS_BREAKER_FAIL_MAX,
        reset_timeout=settings.REDIS_BREAKER_RESET_SECONDS,
        listeners=[_LogTransitions(what)],
        # A missing key for incr (ValueError) is an answer, not an outage.
        exclude=[ValueError],
        name=name,
    )


_MISS = object()

# A token bucket taken from in one round trip, atomically: refill by the time elapsed since the last take (Redis's
# own clock, so replicas with skewed clocks share one bucket fairly), then take one token if there is one.
# Returns {1, tokens left} or {0, tokens now} (as text: Lua numbers come back to a client as integers).
TAKE_TOKEN = """
local rate, burst, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate / 60)
if tokens < 1 then
    return {0, tostring(tokens)}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], ttl)
return {1, tostring(tokens - 1)}
"""


class ResilientRedisCache(RedisCache):
    """Django's Redis cache with short timeouts and a circuit breaker: an unreachable or stalled Redis is a cache
    miss, never an error and never a wait longer than the timeout."""

    def __init__(self, server, params):
        params = dict(params)
        timeout = settings.REDIS_CACHE_TIMEOUT_MS / 1000
        params["OPTIONS"] = {
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
            "retry_on_timeout": False,
            **params.get("OPTIONS", {}),
        }
        super().__init__(server, params)
        self.breaker = breaker("redis_cache", f"Redis cache at {redis_servers(self)[0].split('@')[-1]}")

    def _guarded(self, default: Any, method, *args, **kwargs):
        try:
            return self.breaker.call(method, *args, **kwargs)
        except pybreaker.CircuitBreakerError:
            return default
        except ValueError:
            raise
        except Exception:  # a failure the breaker has just counted (it logs when it opens)
            return default

    def get(self, key, default=None, version=None):
        value = self._guarded(_MISS, super().get, key, _MISS, version)
        return default if value is _MISS else value

    def get_many(self, keys, version=None):
        return self._guarded({}, super().get_many, keys, version)

    def set(self, *args, **kwargs):
        self._guarded(None, super().set, *args, **kwargs)

    def add(self, *args, **kwargs):
        return self._guarded(False, super().add, *args, **kwargs)

    def touch(self, *args, **kwargs):
        return self._guarded(False, super().touch, *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._guarded(False, super().delete, *args, **kwargs)

    def has_key(self, *args, **kwargs):
        return self._guarded(False, super().has_key, *args, **kwargs)

    def incr(self, key, delta=1, version=None):
        # Django raises ValueError for a missing key; keep that meaning, but an outage is not a missing key.
        return self._guarded(None, super().incr, key, delta, version)

    def set_many(self, *args, **kwargs):
        return self._guarded([], super().set_many, *args, **kwargs)

    def delete_many(self, *args, **kwargs):
        self._guarded(None, super().delete_many, *args, **kwargs)

    def clear(self):
        return self._guarded(False, super().clear)

    def take_token(self, key: str, rate: float, burst: float, ttl: int) -> float:
        """Take one token from the bucket ``key`` (``burst`` tokens, refilled at ``rate`` per minute): 0 if taken,
        else the seconds until one is there. One round trip (EVALSHA) on a client held for the cache's life; an
        unavailable Redis answers 0 (limits fail open)."""
        script = getattr(self, "_take_token", None)
        if script is None:
            script = self._take_token = redis_client(self, write=True).register_script(TAKE_TOKEN)
        answer = self._guarded(None, script, keys=[self.make_and_validate_key(key)], args=[rate, burst, ttl])
        if answer is None or int(answer[0]) == 1:
            return 0.0
        return (1 - float(answer[1])) * 60 / rate

    @property
    def available(self) -> bool:
        return self.breaker.current_state != pybreaker.STATE_OPEN
