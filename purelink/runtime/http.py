"""HTTP for pipelines: pooled connections, retries with backoff and jitter, a shared rate limit.

Policy and transport are kept apart: `RetryPolicy` decides whether and when to try again,
`TokenBucket` decides when a request may leave, `HttpClient` only sends.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from dataclasses import dataclass, field

import httpx

from purelink.runtime.events import Rate

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class HttpError(Exception):
    """A response the pipeline cannot use: carries the status and the API's own message."""

    def __init__(self, status: int, message: str, url: str) -> None:
        super().__init__(f"HTTP {status} from {url}: {message}")
        self.status = status
        self.api_message = message
        self.url = url


class TokenBucket:
    """Requests per second shared by every worker of a source.

    `hold(seconds)` makes every worker wait, so one 429 with Retry-After slows the whole
    source rather than each worker finding out on its own. It also halves the rate, which then
    climbs back a little with every success (AIMD): a limit set higher than the API really
    allows settles just under the real one instead of colliding with it again after each wait.
    """

    def __init__(self, rate: float | None, burst: float | None = None) -> None:
        self.target = rate
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, (rate or 1) * 0.1)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._held_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a token; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                if now < self._held_until:
                    delay = self._held_until - now
                elif self.rate is None:
                    return waited
                else:
                    self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                    self._stamp = now
                    if self._tokens >= 1:
                        self._tokens -= 1
                        return waited
                    delay = (1 - self._tokens) / self.rate
            time.sleep(delay)
            waited += delay

    def hold(self, seconds: float) -> None:
        with self._lock:
            now = time.monotonic()
            if self.rate is not None and now >= self._held_until:  # one decrease per throttling episode
                self.rate = max(self.target * 0.05, self.rate * 0.5)
            self._held_until = max(self._held_until, now + seconds)
            self._tokens = 0

    def relax(self) -> None:
        """A request went through: creep back toward the configured rate."""
        if self.rate is not None and self.rate < self.target:
            with self._lock:
                self.rate = min(self.target, self.rate + self.target * 0.02)


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, honouring `Retry-After` and `Stripe-Should-Retry`."""

    max_attempts: int = 8
    max_throttled: int = 50  # 429s are flow control, not failures: they get a budget of their own
    base_delay_s: float = 0.25
    max_delay_s: float = 30.0

    def should_retry(self, response: httpx.Response | None, attempt: int) -> bool:
        if attempt >= self.max_attempts:
            return False
        if response is None:  # connection dropped, timeout
            return True
        advice = response.headers.get("stripe-should-retry")
        if advice is not None:
            return advice.lower() == "true"
        return response.status_code in RETRYABLE_STATUS

    def delay(self, response: httpx.Response | None, attempt: int) -> float:
        if response is not None:
            after = parse_retry_after(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.max_delay_s)
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class HttpStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    bytes: int = 0
    rate_limit_headers: dict = field(default_factory=dict)
    rate: Rate = field(default_factory=Rate)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, response: httpx.Response) -> None:
        with self.lock:
            self.requests += 1
            self.bytes += len(response.content)
            if response.status_code == 429:
                self.throttled += 1
            for name, value in response.headers.items():
                if "ratelimit" in name or "rate-limit" in name or "call-limit" in name:
                    self.rate_limit_headers[name] = value
        self.rate.add()


class HttpClient:
    """Sends GET requests under the shared rate limit and retry policy."""

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None,
                 params: dict[str, str] | None = None, auth: httpx.Auth | None = None,
                 limiter: TokenBucket | None = None, retry: RetryPolicy | None = None,
                 timeout_s: float = 30.0, max_connections: int = 16) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter or TokenBucket(None)
        self.retry = retry or RetryPolicy()
        self.stats = HttpStats()
        self.on_retry = None  # callable(message) for warnings
        self._client = httpx.Client(
            headers=headers or {}, params=params, auth=auth, timeout=timeout_s, follow_redirects=True,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def get(self, path_or_url: str, params: dict | None = None) -> httpx.Response:
        url = self.url(path_or_url)
        parsed = httpx.URL(url)
        if parsed.query:  # httpx drops a URL's own query when params are given: a Link header's page_info
            given = params or {}
            params = [(k, v) for k, v in parsed.params.multi_items() if k not in given] + list(given.items())
            url = str(parsed.copy_with(query=None))
        attempt = throttled = 0
        while True:
            attempt += 1
            self.limiter.acquire()
            response: httpx.Response | None = None
            try:
                response = self._client.get(url, params=params)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if not self.retry.should_retry(None, attempt):
                    raise
                reason = f"{type(exc).__name__}"
            else:
                self.stats.count(response)
                if response.status_code < 400:
                    self.limiter.relax()
                    return response
                if response.status_code == 429 and throttled < self.retry.max_throttled:
                    throttled += 1
                    attempt -= 1
                elif not self.retry.should_retry(response, attempt):
                    raise HttpError(response.status_code, api_message(response), url)
                reason = f"HTTP {response.status_code}"
            wait = self.retry.delay(response, max(attempt, 1))
            if response is not None and response.status_code == 429:
                self.limiter.hold(wait)
            with self.stats.lock:
                self.stats.retries += 1
            if self.on_retry is not None:
                self.on_retry(f"{reason} on {url}; retry {attempt} in {wait:.2f}s")
            time.sleep(wait)

    def close(self) -> None:
        self._client.close()


def api_message(response: httpx.Response) -> str:
    """The error message an API put in its body, in the common shapes, else the reason phrase."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or response.text[:200]
    if isinstance(body, list) and body and isinstance(body[0], dict):  # Salesforce
        body = body[0]
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            for key in ("message", "error_description", "detail"):
                if isinstance(err.get(key), str):
                    return err[key]
        if isinstance(err, str):
            return err
        for key in ("message", "errors"):
            if key in body:
                return str(body[key])[:300]
    return response.reason_phrase
