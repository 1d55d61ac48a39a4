"""One place that sends requests: authentication, timeouts, retries with backoff, idempotency keys, errors.

Retries (``RetryPolicy``):

- **429 and 503** are retried for every method: the registry did nothing (a throttled request never reaches the
  view; a 503 says nothing was acknowledged). The wait is the answer's ``Retry-After`` when it has one (capped
  by ``max_wait``), else exponential backoff with jitter. A gateway's 502 or 504 is retried like a dropped
  connection (below): the registry may have done the work behind it.
- **A connection that fails or drops** is retried for reads (GET, HEAD), for PUT and DELETE (idempotent by
  definition), and for a POST only when it carries an ``Idempotency-Key``: the registry answers a replayed key
  with the stored response and does the work once. A POST without a key is retried only when it was never sent
  (the connection could not be opened).
- A write the registry takes keys for gets one ``Idempotency-Key`` per logical call, the same on every retry.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import RegistryError, TransportError, error_from_response, retry_after_seconds

RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. ``attempts`` counts the first try."""

    attempts: int = 5
    backoff: float = 0.5  # first wait; doubles each retry
    max_backoff: float = 30.0
    max_wait: float = 120.0  # the longest Retry-After honoured; a longer one ends the retries

    def delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` (attempt counts from 1), or None to give up."""
        if attempt >= self.attempts:
            return None
        if response is not None:
            after = retry_after_seconds(response)
            if after is not None:
                return after if after <= self.max_wait else None
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return base / 2 + random.uniform(0, base / 2)  # "equal jitter": never 0, never more than base


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


class Transport:
    """An ``httpx.Client`` with the registry's base URL and key, and the retry loop around it."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        user_agent: str = "registry-client",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Api-Key {api_key}"
        if not isinstance(timeout, httpx.Timeout):
            timeout = httpx.Timeout(timeout, connect=min(10.0, float(timeout)))
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)
        # What the retry loop did, for callers that report it (the tests, a verbose command line).
        self.retries = 0

    def close(self) -> None:
        self.http.close()

    def relative(self, url: str) -> str:
        """A ``next`` link as a path under our base URL (the server builds absolute links from its own Host)."""
        parts = urlsplit(url)
        base_path = urlsplit(self.base_url).path
        path = parts.path[len(base_path) :] if base_path and parts.path.startswith(base_path) else parts.path
        return path + (f"?{parts.query}" if parts.query else "")

    def _may_retry_status(self, method: str, headers: dict[str, str], status: int) -> bool:
        if status in (429, 503):
            return True  # the registry did nothing: throttled before the view, or nothing acknowledged
        # A gateway's 502/504 may come after the registry did the work: only repeatable requests go again.
        return status in RETRY_STATUSES and (method in IDEMPOTENT_METHODS or "Idempotency-Key" in headers)

    def _may_retry_after_transport_error(self, method: str, headers: dict[str, str], exc: httpx.HTTPError) -> bool:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return True  # never sent
        return method in IDEMPOTENT_METHODS or "Idempotency-Key" in headers

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotent_write: bool = False,
        content_factory: Callable[[], Any] | None = None,
        expect: tuple[int, ...] = (),
        timeout: httpx.Timeout | None = None,
        on_retry: Callable[[int, str], None] | None = None,
    ) -> httpx.Response:
        """Send with retries; return the response, or raise the registry's error as an exception.

        ``content_factory`` builds a fresh body for each attempt (a file streamed again from its start).
        ``expect`` lists statuses returned rather than raised (a 404 a caller asks about)."""
        headers = dict(headers or {})
        if idempotent_write and "Idempotency-Key" not in headers:
            headers["Idempotency-Key"] = new_idempotency_key()
        params = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            attempt += 1
            # No params at all when there are none: httpx replaces a URL's own query (a `next` link) with params.
            kwargs: dict[str, Any] = {"params": params or None, "headers": headers}
            if json is not None:
                kwargs["json"] = json
            if content_factory is not None:
                kwargs["content"] = content_factory()
            if timeout is not None:
                kwargs["timeout"] = timeout
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                if not isinstance(exc, httpx.TransportError):
                    raise TransportError(f"{method} {path}: {exc}") from exc
                delay = self.retry.delay(attempt, None)
                if delay is None or not self._may_retry_after_transport_error(method, headers, exc):
                    raise TransportError(
                        f"{method} {path}: {type(exc).__name__}: {exc or 'connection failed'} "
                        f"(after {attempt} attempt{'s' if attempt > 1 else ''})"
                    ) from exc
                self._wait(attempt, delay, f"{type(exc).__name__}", on_retry)
                continue
            if self._may_retry_status(method, headers, response.status_code):
                delay = self.retry.delay(attempt, response)
                if delay is not None:
                    response.close()
                    self._wait(attempt, delay, f"HTTP {response.status_code}", on_retry)
                    continue
            if response.is_success or response.status_code in expect or 300 <= response.status_code < 400:
                return response
            raise error_from_response(response)

    @contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> Iterator[httpx.Response]:
        """A streamed response (downloads); retries 429/503 and connection failures before the body starts."""
        attempt = 0
        while True:
            attempt += 1
            try:
                request = self.http.build_request(method, path, headers=headers, timeout=timeout)
                response = self.http.send(request, stream=True, follow_redirects=True)
            except httpx.TransportError as exc:
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise TransportError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
                self._wait(attempt, delay, type(exc).__name__, None)
                continue
            if response.status_code in RETRY_STATUSES:
                delay = self.retry.delay(attempt, response)
                if delay is not None:
                    response.close()
                    self._wait(attempt, delay, f"HTTP {response.status_code}", None)
                    continue
            if not response.is_success:
                response.read()
                response.close()
                raise error_from_response(response)
            try:
                yield response
            finally:
                response.close()
            return

    def _wait(self, attempt: int, delay: float, why: str, on_retry: Callable[[int, str], None] | None) -> None:
        self.retries += 1
        if on_retry is not None:
            on_retry(attempt, why)
        self.sleep(delay)


def json_or_none(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise RegistryError(f"{response.request.url.path}: the answer is not JSON") from exc
