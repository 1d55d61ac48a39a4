"""Rate limits per API key: API_RATE_LIMIT (100/min, bursts of 150) by default, higher per key, a bucket of
their own for validate/evaluate, 429 with Retry-After in the error shape, and failing open when Redis is away."""

from __future__ import annotations

import signal

import pytest
from django.core.cache import cache

from kernel.models import ApiKey
from tests.servers import private_redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight(settings):
    settings.API_RATE_LIMIT = (1, 3)  # one token a minute: no refill during a test
    settings.API_CHECK_RATE_LIMIT = (1, 5)


def test_a_key_over_its_burst_gets_429_with_retry_after(api, tight):
    statuses = [api.get("/api/v1/models").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = api.get("/api/v1/models")
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert response.json()["type"] == "client_error" and response.json()["errors"][0]["code"] == "throttled"


def test_each_key_has_its_own_bucket_and_validate_has_another(api, readonly_api, tight):
    for _ in range(3):
        api.get("/api/v1/models")
    assert api.get("/api/v1/models").status_code == 429
    assert readonly_api.get("/api/v1/models").status_code == 200  # another key of the same user
    assert [api.post("/api/v1/models/validate", {}, format="json").status_code for _ in range(6)] == [200] * 5 + [429]


def test_a_key_may_carry_a_higher_limit(api, tight):
    ApiKey.objects.filter(prefix=api.api_key.split(".")[0]).update(rate_limit_per_minute=2, rate_limit_burst=10)
    assert [api.get("/api/v1/models").status_code for _ in range(11)] == [200] * 10 + [429]


def test_limits_fail_open_at_once_when_redis_is_stalled(api, tight, settings):
    with private_redis() as (port, process):
        settings.CACHES = {
            "default": {
                "BACKEND": "registry_project.resilience.ResilientRedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
            }
        }
        process.send_signal(signal.SIGSTOP)
        statuses = [api.get("/api/v1/models").status_code for _ in range(10)]
        assert cache.breaker.current_state == "open"
    assert statuses == [200] * 10
