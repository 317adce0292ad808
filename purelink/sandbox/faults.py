"""The sandbox's deliberate imperfections (rate limit, injected failures) and its request counters."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter


class TokenBucket:
    """`rate` requests per second across all clients, with a burst of `rate` (at least one)."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate limit must be positive")
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take one token: 0.0 when granted, else the seconds until one is available."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


class FailureInjector:
    """Picks which requests fail, from a seeded generator so a run's pattern is repeatable."""

    def __init__(self, rate: float, seed: int) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fail rate must be between 0 and 1")
        self.rate = rate
        self._rng = random.Random(f"faults-{seed}")
        self._lock = threading.Lock()

    def should_fail(self) -> bool:
        if self.rate <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < self.rate


class Stats:
    """Counts of API requests (the `/_sandbox/*` endpoints are not counted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._by_path: Counter[str] = Counter()
            self._by_status: Counter[int] = Counter()

    def count(self, path: str, status: int) -> None:
        with self._lock:
            self._requests += 1
            self._by_path[path] += 1
            self._by_status[status] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "requests": self._requests,
                "rate_limited": self._by_status[429],
                "server_errors": self._by_status[500],
                "by_status": {str(k): v for k, v in sorted(self._by_status.items())},
                "by_path": dict(sorted(self._by_path.items())),
            }
