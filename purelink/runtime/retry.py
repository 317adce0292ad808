"""When to try a request again, and after how long: the policy half of HTTP (`http.py` sends).

Exponential backoff with full jitter for failures, the server's `Retry-After` and Stripe's
`Stripe-Should-Retry` when given, a long patient budget for 429s (flow control, not failure), and
a short one for a URL where nothing answers when a person is waiting at a terminal.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from dataclasses import dataclass

from purelink.runtime.lean import httpx

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, honouring `Retry-After` and `Stripe-Should-Retry`."""

    max_attempts: int = 8
    base_delay_s: float = 0.25
    max_delay_s: float = 30.0
    #: 429s are flow control, not failures: a lockout is waited out, backing off up to minutes,
    #: for at most this long in all before the request fails
    throttle_budget_s: float = 900.0
    max_throttle_delay_s: float = 120.0
    #: tries of a request that cannot connect while the API has not answered once in this run
    #: (nothing listens at the URL, its name does not resolve), waiting `connect_delay_s`, then
    #: twice that...; None: like any failure, `max_attempts` with the usual backoff. A scheduled
    #: run rides out an API that is restarting; a run by hand on a terminal (`by_hand`) tells its
    #: person within seconds, who can re-run at once.
    connect_attempts: int | None = None
    connect_delay_s: float = 1.0

    @classmethod
    def by_hand(cls) -> RetryPolicy:
        """For a person at a terminal: a URL where nothing answers fails after 1 s + 2 s of waiting."""
        return cls(connect_attempts=3)

    def connect_delay(self, attempt: int) -> float:
        return min(self.max_delay_s, self.connect_delay_s * 2 ** (attempt - 1))

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

    def throttle_delay(self, response: httpx.Response, throttled: int) -> float:
        """The wait after the `throttled`-th 429 in a row: the server's Retry-After, else doubling
        (with jitter in its upper half, so workers spread out but the wait really grows)."""
        after = parse_retry_after(response.headers.get("retry-after"))
        if after is not None:
            return min(after, self.max_throttle_delay_s)
        ceiling = min(self.max_throttle_delay_s, self.base_delay_s * 2 ** (throttled - 1))
        return random.uniform(ceiling / 2, ceiling)


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


def why_no_answer(exc: Exception) -> str:
    """Why a request got no answer, in a few words: `connection refused`, `timed out`, `the body
    was still arriving after 120 s` (an exception's own `reason`, when it has one)."""
    if isinstance(reason := getattr(exc, "reason", None), str):
        return reason
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", (str(exc).strip().splitlines() or [""])[0])
    return text[:1].lower() + text[1:] if text else type(exc).__name__
