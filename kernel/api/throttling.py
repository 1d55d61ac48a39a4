"""Rate limits per API key (or per user for browser sessions): a token bucket of ``burst`` requests refilled at
``rate`` per minute, kept in the Django cache (Redis when ``REDIS_URL`` is set, so every replica shares it;
per process otherwise). ``validate`` and ``evaluate`` draw from a bucket of their own (``API_CHECK_RATE_LIMIT``).
A key may carry higher limits of its own (``ApiKey.rate_limit_per_minute`` / ``rate_limit_burst``).

With Redis the bucket is refilled and taken from by one Lua script, atomically and in one round trip
(``ResilientRedisCache.take_token``); the per-process cache of the embedded default reads and writes it with two
calls. When Redis is unavailable the resilient cache answers at once, so limits fail open rather than slowing or
failing requests (registry_project/resilience.py).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from kernel.metrics import RATE_LIMITED
from kernel.models import ApiKey


class RegistryRateThrottle(BaseThrottle):
    def _limits(self, request, view) -> tuple[str, float, float]:
        if getattr(view, "action", None) in getattr(view, "read_only_actions", ()) and request.method == "POST":
            scope, (rate, burst) = "check", settings.API_CHECK_RATE_LIMIT
        else:
            scope, (rate, burst) = "api", settings.API_RATE_LIMIT
        if isinstance(request.auth, ApiKey) and scope == "api" and request.auth.rate_limit_per_minute:
            rate = request.auth.rate_limit_per_minute
            burst = request.auth.rate_limit_burst or rate
        return scope, rate, burst

    def _who(self, request) -> str | None:
        if isinstance(request.auth, ApiKey):
            return f"key:{request.auth.prefix}"
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return None  # unauthenticated requests are refused by the permission check anyway

    def allow_request(self, request, view) -> bool:
        who = self._who(request)
        if who is None:
            return True
        scope, rate, burst = self._limits(request, view)
        key = f"throttle:{scope}:{who}"
        ttl = int(burst * 60 / rate) + 1
        if hasattr(cache, "take_token"):  # Redis: one atomic round trip (registry_project/resilience.py)
            # A hash under a key of its own: a bucket left by the two-call version is a pickled value, not a hash.
            self._wait = cache.take_token(f"bucket:{scope}:{who}", rate, burst, ttl)
            if self._wait:
                RATE_LIMITED.labels(scope).inc()
            return self._wait == 0
        now = time.time()
        tokens, stamp = cache.get(key) or (burst, now)
        tokens = min(burst, tokens + (now - stamp) * rate / 60)
        if tokens < 1:
            self._wait = (1 - tokens) * 60 / rate
            RATE_LIMITED.labels(scope).inc()
            return False
        cache.set(key, (tokens - 1, now), timeout=ttl)
        return True

    def wait(self) -> float:
        return max(1.0, getattr(self, "_wait", 1.0))
