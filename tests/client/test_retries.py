"""Retries: a real 429 from gunicorn's throttle waited out as its Retry-After says; 503s and dropped connections
(scripted with httpx's MockTransport, no server: a 503 cannot be asked of a healthy database) retried with one
Idempotency-Key per logical write, and a POST without a key never sent twice after it may have arrived."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.client.conftest import model_document


def sleeps_recorded(client) -> list[float]:
    recorded: list[float] = []

    def sleep(seconds: float) -> None:
        recorded.append(seconds)
        time.sleep(seconds)

    client.transport.sleep = sleep
    return recorded


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_429_is_retried_after_the_servers_retry_after(registry, api_key):
    from registry_client import RateLimited, RegistryClient, RetryPolicy

    from kernel.models import ApiKey

    # This key may make 60 requests a minute in bursts of 2 (the registry's own per-key limit).
    ApiKey.objects.filter(prefix=api_key.split(".")[0]).update(rate_limit_per_minute=60, rate_limit_burst=2)
    registry.models.register(model_document())
    waits = sleeps_recorded(registry)
    started = time.monotonic()
    for _ in range(4):
        assert registry.models.get("client-test-model")["version"] == "1.0.0"
    assert registry.transport.retries >= 1
    assert waits and all(w >= 1 for w in waits)  # Retry-After (whole seconds, at least 1), not a short backoff
    assert time.monotonic() - started < 15

    impatient = RegistryClient(registry.transport.base_url, api_key, retry=RetryPolicy(attempts=1))
    with pytest.raises(RateLimited) as limited:
        for _ in range(5):
            impatient.models.get("client-test-model")
    assert limited.value.retry_after >= 1 and limited.value.codes == ["throttled"]
    impatient.close()

    from click.testing import CliRunner
    from registry_client.cli import cli

    env = {"REGISTRY_URL": registry.transport.base_url, "REGISTRY_API_KEY": api_key, "REGISTRY_CONFIG": "/nonexistent"}
    results = [CliRunner().invoke(cli, ["--retries", "1", "get", "client-test-model"], env=env) for _ in range(3)]
    assert 7 in [r.exit_code for r in results]  # still throttled after the last attempt: CI may wait and rerun


def scripted(*answers):
    """A client whose requests get ``answers`` in turn (a status with headers, or an exception to raise)."""
    from registry_client import RegistryClient, RetryPolicy

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        answer = answers[len(seen) - 1]
        if isinstance(answer, Exception):
            raise answer
        status, headers = answer
        body = {"type": "server_error", "errors": [{"code": "database_unavailable", "message": "x", "path": None}]}
        if status < 300:
            body = {"name": "m", "version": "1.0.0", "status": "active"}
        return httpx.Response(status, json=body, headers=headers)

    client = RegistryClient(
        "http://registry.test", "key", transport=httpx.MockTransport(handler), retry=RetryPolicy(backoff=0.01)
    )
    client.transport.sleep = lambda seconds: None
    return client, seen


def test_a_503_is_retried_with_the_same_idempotency_key():
    client, seen = scripted((503, {"Retry-After": "0"}), (503, {}), (201, {}))
    assert client.models.register(model_document())["version"] == "1.0.0"
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(seen) == 3 and len(keys) == 1
    assert client.transport.retries == 2


def test_every_logical_write_gets_its_own_key():
    client, seen = scripted((201, {}), (201, {}))
    client.models.register(model_document())
    client.models.register(model_document(version="1.0.1"))
    assert seen[0].headers["Idempotency-Key"] != seen[1].headers["Idempotency-Key"]


def test_a_dropped_connection_retries_a_keyed_write_but_not_an_unkeyed_post():
    from registry_client import TransportError

    client, seen = scripted(httpx.ReadError("connection reset"), (200, {}))
    client.models.activate("m", "1.0.0")  # lifecycle moves carry a key: the registry does them once
    assert len(seen) == 2 and seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]

    client, seen = scripted(httpx.ReadError("connection reset"), (201, {}))
    with pytest.raises(TransportError):  # a binding create has no key: it may have happened, so not resent
        client.bindings.create({"model": "m"})
    assert len(seen) == 1

    client, seen = scripted(httpx.ConnectError("refused"), (201, {}))
    client.bindings.create({"model": "m"})  # never sent: safe to send
    assert len(seen) == 2


def test_a_gateway_timeout_resends_only_what_may_be_repeated():
    from registry_client import ServerError

    client, seen = scripted((504, {}), (201, {}))
    with pytest.raises(ServerError):  # the registry may have created the binding behind the gateway
        client.bindings.create({"model": "m"})
    assert len(seen) == 1
    client, seen = scripted((504, {}), (201, {}))
    client.models.register(model_document())  # keyed: the registry does it once
    assert len(seen) == 2


def test_a_read_that_timed_out_is_retried():
    client, seen = scripted(httpx.ReadTimeout("timed out"), (200, {}))
    assert client.models.get("m")["version"] == "1.0.0"
    assert len(seen) == 2


def test_503_after_every_attempt_raises_with_retry_after():
    from registry_client import ServiceUnavailable

    client, seen = scripted(*[(503, {"Retry-After": "0"})] * 5)
    with pytest.raises(ServiceUnavailable) as unavailable:
        client.models.get("m")
    assert len(seen) == 5 and unavailable.value.retry_after == 0
    assert unavailable.value.codes == ["database_unavailable"]
