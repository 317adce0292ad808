"""HTTP for pipelines: pooled connections, retries with backoff and jitter, a shared rate limit.

Policy and transport are kept apart: `RetryPolicy` (retry.py) decides whether and when to try again,
`TokenBucket` decides when a request may leave, `HttpClient` only sends.
"""

from __future__ import annotations

import codecs
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from purelink.runtime.events import DEFAULT_BURST_S, Rate
from purelink.runtime.lean import httpx
from purelink.runtime.net import foreign_host
from purelink.runtime.records import loads
from purelink.runtime.retry import RetryPolicy, why_no_answer
from purelink.runtime.transfer import PastDeadline, Stopped, send_within, slow_body

CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)  # no connection made: the server never answered


def origin(url: str) -> str:
    """The server of a request's URL (`http://127.0.0.1:8765`), without the path and encoded query."""
    return str(httpx.URL(url).copy_with(path="/", query=None, fragment=None)).rstrip("/")


class HttpError(Exception):
    """A response the pipeline cannot use: carries the status and the API's own message."""

    def __init__(self, status: int, message: str, url: str) -> None:
        super().__init__(f"HTTP {status} from {url}: {message}")
        self.status = status
        self.api_message = message
        self.url = url


class BadBody(HttpError):
    """A 2xx response whose body is not the JSON the API promised (a proxy's HTML page, a body
    cut short), still bad after the retries: says what came instead."""

    def __init__(self, response: httpx.Response, url: str, problem: str) -> None:
        kind = response.headers.get("content-type", "no content type")
        head = response.content[:120].decode("utf-8", "replace")
        super().__init__(response.status_code, f"{problem} (content type {kind}; the body begins {head!r})", url)
        self.content_type = kind
        self.head = head


#: a JSON escape of a lone UTF-16 surrogate (`\ud800`): such text cannot be stored as UTF-8
SURROGATE_ESCAPE = re.compile(r"\\[uU][dD][89a-fA-F][0-9a-fA-F]{2}")


def _known(encoding: str) -> bool:
    try:
        codecs.lookup(encoding)
        return True
    except LookupError:
        return False


def decode_json(response: httpx.Response) -> tuple[Any, bool]:
    """The body as JSON, and whether it may hold text that is not valid Unicode.

    Invalid UTF-8 in one record must not cost the whole page: the bytes are read with
    `surrogateescape`, so the bad ones survive as lone surrogates that the record checks find
    and turn into a dead letter for that record only. Raises ValueError for a body that is not
    JSON at all.
    """
    content = response.content
    if response.status_code == 204 and not content.strip():
        return None, False  # No Content: an empty answer, not a broken one
    kind = response.headers.get("content-type", "").lower()
    if "html" in kind or content.lstrip()[:1] == b"<":
        raise ValueError("an HTML page instead of JSON")
    declared = (response.charset_encoding or "utf-8").lower().replace("_", "-")
    encoding = declared if declared not in ("utf8", "utf-8") and _known(declared) else "utf-8"
    try:  # the charset the API declares (ISO-8859-1, a Windows code page), else UTF-8 as JSON is
        text, suspect = content.decode(encoding), False
    except UnicodeDecodeError:
        text, suspect = content.decode(encoding, "surrogateescape"), True
    try:
        body = loads(text, content if encoding == "utf-8" else None)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not complete JSON ({exc.msg} at byte {exc.pos} of {len(content)})") from None
    return body, suspect or bool(SURROGATE_ESCAPE.search(text))


class TokenBucket:
    """Requests per second shared by every worker of a source.

    `hold(seconds)` makes every worker wait, so one 429 with Retry-After slows the whole
    source rather than each worker finding out on its own. It also halves the rate, which then
    climbs back a little with every success (AIMD): a limit set higher than the API really
    allows settles just under the real one instead of colliding with it again after each wait.
    """

    def __init__(self, rate: float | None, burst: float | None = None, burst_s: float = DEFAULT_BURST_S) -> None:
        self.target = rate
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, (rate or 1) * burst_s)  # else seconds of requests
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._held_until = 0.0
        self._lock = threading.Lock()
        # Workers are served in the order they asked: with sleeps racing for the next token, one
        # window's request could lose every race and wait for most of a run.
        self._turn = threading.Condition(self._lock)
        self._line: deque[object] = deque()

    def acquire(self, cancel: threading.Event | None = None) -> float:
        """Wait for a token, first come first served; returns the seconds waited. Raises `Stopped`
        once `cancel` is set (looked at every quarter second while waiting)."""
        start = time.monotonic()
        step = None if cancel is None else 0.25
        me = object()
        with self._turn:
            self._line.append(me)
            try:
                while True:
                    if cancel is not None and cancel.is_set():
                        raise Stopped
                    if self._line[0] is not me:
                        self._turn.wait(step)
                        continue
                    now = time.monotonic()
                    if now < self._held_until:
                        delay = self._held_until - now
                    elif self.rate is None:
                        return time.monotonic() - start
                    else:
                        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                        self._stamp = now
                        if self._tokens >= 1:
                            self._tokens -= 1
                            return time.monotonic() - start
                        delay = (1 - self._tokens) / self.rate
                    self._turn.wait(delay if step is None else min(delay, step))  # the lock is free meanwhile
            finally:
                self._line.remove(me)
                self._turn.notify_all()

    def hold(self, seconds: float) -> None:
        with self._lock:
            now = time.monotonic()
            if self.rate is not None and self.target is not None and now >= self._held_until:  # one decrease per throttling episode
                self.rate = max(self.target * 0.05, self.rate * 0.5)
            self._held_until = max(self._held_until, now + seconds)
            self._tokens = 0

    def relax(self) -> None:
        """A request went through: climb back toward the configured rate.

        Ten successes restore the full rate from half: a server that throttled a moment ago
        and now answers again is used at the speed it allows, not minutes later.
        """
        target = self.target
        if self.rate is not None and target is not None and self.rate < target:
            with self._lock:
                self.rate = min(target, self.rate + target * 0.1)


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
    """Sends GET requests (and GraphQL POSTs) under the shared rate limit and retry policy."""

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None,
                 params: dict[str, str] | None = None, auth: httpx.Auth | None = None,
                 limiter: TokenBucket | None = None, retry: RetryPolicy | None = None,
                 timeout_s: float = 30.0, deadline_s: float = 120.0, max_connections: int = 16) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter or TokenBucket(None)
        self.retry = retry or RetryPolicy()
        self.stats = HttpStats()
        self.on_retry: Callable[[str], None] | None = None  # every retry's message, for the log
        self.on_throttle: Callable[..., None] | None = None  # callable(message): long rate-limit waits, for the user
        #: callable(text, key): a request that could not connect waits to retry, in a person's words;
        #: the key is the same for every worker at the same attempt on the same host
        self.on_unreachable: Callable[[str, str], None] | None = None
        self.cancel: threading.Event | None = None  # set: waiting requests raise `Stopped` instead of leaving
        self.answered = False  # the API has answered once in this run
        #: while no request gets an answer: the words of the retry furthest along ("cannot connect to
        #: ...: attempt 2 of 5, retrying in 2 s"), which the heartbeat carries to monitors that read
        #: only events; with 8 workers retrying, the latest of them would step back and forth
        self.waiting: str | None = None
        self.waiting_attempt = 0
        # Set when a request tried for as long as the policy allows and never connected: until the
        # API answers again, the other requests waiting to retry a failed connection fail at once
        # instead of each waiting out its own backoff (with 16 windows the run took the longest of
        # 16 random waits, not one).
        self._gave_up = threading.Event()
        self.deadline_s = deadline_s  # a request's whole transfer, body included (transfer.py)
        self._client = httpx.Client(
            headers=headers or {}, params=params, auth=auth, timeout=httpx.Timeout(timeout_s, read=min(
                timeout_s, deadline_s)), follow_redirects=True,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def url(self, path_or_url: str) -> str:
        """The absolute URL; one on another host than the API's is refused (`ForeignHost`): the
        client sends the key with every request, and a next-page link must not carry it elsewhere."""
        if path_or_url.startswith(("http://", "https://")):
            if origin(path_or_url) != origin(self.base_url):
                raise foreign_host(path_or_url, self.base_url)
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def get(self, path_or_url: str, params: dict | None = None, *, json: Any = None) -> httpx.Response:
        """GET the URL, or POST `json` to it when given (a GraphQL query, whose params are its variables)."""
        url = self.url(path_or_url)
        if json is not None:
            params = None
        parsed = httpx.URL(url)
        query: dict | list[tuple[str, Any]] | None = params
        if parsed.query:  # httpx drops a URL's own query when params are given: a Link header's page_info
            given = params or {}
            query = [(k, v) for k, v in parsed.params.multi_items() if k not in given] + list(given.items())
            url = str(parsed.copy_with(query=None))
        attempt = throttled = 0
        throttled_since: float | None = None
        while True:
            attempt += 1
            self.limiter.acquire(self.cancel)
            response: httpx.Response | None = None
            try:
                request = (self._client.build_request("GET", url, params=query) if json is None
                           else self._client.build_request("POST", url, json=json))
                response = send_within(self._client, request, self.deadline_s, self.cancel)
            except httpx.DecodingError as exc:  # it answered, but the body came garbled (a corrupt gzip stream)
                if attempt >= self.retry.max_attempts:
                    raise HttpError(200, f"the body could not be decoded after {attempt} attempts: {exc} "
                                    "(its Content-Encoding does not match what was sent)", url) from None
                reason = f"an undecodable body ({exc})"
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                wait = self._unreachable(exc, url, attempt)
                self._count_retry(f"{type(exc).__name__} on {url}; retry {attempt} in {wait:.2f}s")
                self._pause(wait, exc if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) else None)
                continue
            else:
                self.answered, self.waiting, self.waiting_attempt = True, None, 0
                self._gave_up.clear()
                self.stats.count(response)
                if response.status_code < 400:
                    self.limiter.relax()
                    return response
                if response.status_code == 429:
                    attempt -= 1
                    throttled += 1
                    throttled_since = throttled_since or time.time()
                    wait = self.retry.throttle_delay(response, throttled)
                    self._throttled(response, url, throttled_since, wait)
                    continue
                if not self.retry.should_retry(response, attempt):
                    raise HttpError(response.status_code, api_message(response), url)
                reason = f"HTTP {response.status_code}"
            wait = self.retry.delay(response, max(attempt, 1))
            self._count_retry(f"{reason} on {url}; retry {attempt} in {wait:.2f}s")
            self._pause(wait)

    def _unreachable(self, exc: Exception, url: str, attempt: int) -> float:
        """The wait before retrying a request that got no answer; raises `exc` when it is not retried."""
        connect = isinstance(exc, CONNECT_ERRORS)
        # Before the API ever answered, a failed connection has its own budget (a run by hand).
        first_budget = self.retry.connect_attempts if connect and not self.answered else None
        first = first_budget is not None
        attempts = first_budget if first_budget is not None else self.retry.max_attempts
        if (connect and self._gave_up.is_set()) or attempt >= attempts or not self.retry.should_retry(None, attempt):
            if connect:
                self._gave_up.set()
            self.waiting, self.waiting_attempt = None, 0  # a request gave up: its stream's error says why
            raise slow_body(exc, attempt) if isinstance(exc, PastDeadline) else exc
        wait = self.retry.connect_delay(attempt) if first else self.retry.delay(None, attempt)
        where = origin(url)
        what = "cannot connect to" if connect else "no answer from"
        shown = f"{wait:.0f} s" if wait >= 1 else f"{wait:.1f} s"
        text = f"{what} {where} ({why_no_answer(exc)}): attempt {attempt} of {attempts}, retrying in {shown}"
        if attempt >= self.waiting_attempt:
            self.waiting, self.waiting_attempt = text, attempt
        if self.on_unreachable is not None:
            self.on_unreachable(text, f"{where} {attempt}")
        return wait

    def _pause(self, seconds: float, unconnected: Exception | None = None) -> None:
        """Sleep before a retry, or raise `Stopped` as soon as the run is asked to stop. Before
        retrying a failed connection (`unconnected`), raise it as soon as another request gave up."""
        if unconnected is not None:
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                if self._gave_up.wait(min(left, 0.25)):
                    raise unconnected
                if self.cancel is not None and self.cancel.is_set():
                    raise Stopped
        elif self.cancel is None:
            time.sleep(seconds)
        elif self.cancel.wait(seconds):
            raise Stopped

    def _count_retry(self, message: str) -> None:
        with self.stats.lock:
            self.stats.retries += 1
        if self.on_retry is not None:
            self.on_retry(message)

    def _throttled(self, response: httpx.Response, url: str, since: float, wait: float) -> None:
        """Wait out a 429 (every worker waits with it), or fail once the budget is spent."""
        spent = time.time() - since
        if spent + wait > self.retry.throttle_budget_s:
            raise HttpError(429, f"still rate limited after {spent:.0f} s, more than the "
                                 f"{self.retry.throttle_budget_s:.0f} s allowed for waiting", url)
        self.limiter.hold(wait)
        self._count_retry(f"HTTP 429 on {url}; waiting {wait:.2f}s")
        if wait >= 1 and self.on_throttle is not None:
            told = "as the API asked (Retry-After)" if response.headers.get("retry-after") else "(backing off)"
            self.on_throttle(f"rate limited since {datetime.fromtimestamp(since).strftime('%H:%M:%S')}: "
                             f"retrying in {wait:.0f} s {told}")
        self._pause(wait)

    def get_json(self, path_or_url: str, params: dict | None = None, *, json: Any = None,
                 throttled: Callable[[Any], float | None] | None = None) -> tuple[httpx.Response, Any, bool]:
        """GET (or POST `json`) and decode the JSON body; a body that is not JSON is retried like a
        5xx, then raises `BadBody` naming the URL, status, content type and the body's first bytes.
        `throttled(body)`, when given, tells a throttled answer sent with HTTP 200 (GraphQL's
        THROTTLED): the seconds to wait (0 to back off), else None; it is waited out like a 429."""
        attempt = hits = 0
        since: float | None = None
        while True:
            attempt += 1
            response = self.get(path_or_url, params, json=json)
            try:
                body, suspect = decode_json(response)
            except ValueError as exc:
                if attempt >= self.retry.max_attempts:
                    raise BadBody(response, str(response.url), str(exc)) from None
                wait = self.retry.delay(None, attempt)
                self._count_retry(f"{exc} from {response.url}; retry {attempt} in {wait:.2f}s")
                self._pause(wait)
                continue
            asked = throttled(body) if throttled is not None else None
            if asked is not None:
                attempt, hits, since = attempt - 1, hits + 1, since or time.time()
                self._throttled(response, str(response.url), since,
                                asked or self.retry.throttle_delay(response, hits))
                continue
            return response, body, suspect

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
