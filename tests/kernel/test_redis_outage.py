"""A stalled or stopped Redis never stalls the registry (issue #7, fault 7). Each test runs its own redis-server
and freezes it with SIGSTOP (what CLIENT PAUSE does to clients: connections open, no answers) or kills it; the
shared Redis is never touched."""

from __future__ import annotations

import logging
import signal

import pybreaker
import pytest
from celery import Celery
from django.core.cache import cache

from registry_project.celery import RegistryTask, broker_breaker
from tests.policies_app.conftest import EVALUATE, rbac
from tests.policies_app.conftest import URL as POLICIES
from tests.servers import private_redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_cache(settings):
    with private_redis() as (port, process):
        settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
        settings.CACHES = {
            "default": {"BACKEND": "registry_project.resilience.ResilientRedisCache", "LOCATION": settings.REDIS_URL}
        }
        yield process


def outage_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "registry.resilience"]


def test_with_redis_stalled_requests_are_answered_and_the_log_says_so_once(api, redis_cache, caplog):
    cache.set("k", "v")
    assert cache.get("k") == "v"
    redis_cache.send_signal(signal.SIGSTOP)
    caplog.set_level(logging.WARNING, logger="registry.resilience")

    for i in range(20):
        assert cache.get("k") is None  # a miss, after at most one short timeout
        cache.set("k", i)
        response = api.post(
            POLICIES,
            {"name": f"p{i}", "version": "1.0.0", "type": "rbac", "rules": [rbac("user:a", "api:x", "allow")]},
            format="json",
        )
        assert response.status_code == 201
        assert (
            api.post(EVALUATE, {"entity": "user:a", "resource": "api:x", "action": "read"}, format="json").json()[
                "allowed"
            ]
            is True
        )

    assert cache.breaker.current_state == pybreaker.STATE_OPEN
    # Only the calls before the breaker opened went to the network; every later call answered at once.
    assert cache.breaker.fail_counter == cache.breaker.fail_max
    lines = outage_lines(caplog)
    assert len(lines) == 1 and lines[0].exc_info is None
    assert "unavailable" in lines[0].getMessage()


def test_the_cache_comes_back_when_redis_does(redis_cache, caplog, settings):
    caplog.set_level(logging.WARNING, logger="registry.resilience")
    redis_cache.send_signal(signal.SIGSTOP)
    for _ in range(3):
        cache.get("k")
    assert cache.breaker.current_state == pybreaker.STATE_OPEN

    redis_cache.send_signal(signal.SIGCONT)
    cache.breaker.half_open()  # what reset_timeout seconds would do
    cache.set("k", "back")

    assert cache.get("k") == "back" and cache.breaker.current_state == pybreaker.STATE_CLOSED
    assert outage_lines(caplog)[-1].getMessage().endswith("available again")


def test_publishing_a_task_to_a_dead_broker_returns_at_once_and_opens_the_breaker(caplog):
    with private_redis() as (port, process):
        app = Celery("outage-test", task_cls=RegistryTask, set_as_current=False, broker=f"redis://127.0.0.1:{port}/0")
        app.conf.update(
            broker_transport_options={"socket_timeout": 0.05, "socket_connect_timeout": 0.05, "max_retries": 0},
            broker_connection_timeout=0.05,
            task_publish_retry=False,
        )

        @app.task(name="outage-test.noop")
        def noop():
            return None

        assert noop.delay() is not None  # a healthy broker takes it
        process.kill()
        process.wait()
        caplog.set_level(logging.WARNING, logger="registry.resilience")

        results = [noop.delay() for _ in range(10)]

    assert results == [None] * 10
    assert broker_breaker().current_state == pybreaker.STATE_OPEN
    assert len(outage_lines(caplog)) == 1
    broker_breaker().close()
