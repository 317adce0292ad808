"""The shared rate limiter serves workers in the order they asked: a window's request cannot lose
every race for the next token and wait for most of a run (which also starved the monitor's
estimate of the total, since a window never read cannot be sized)."""

from __future__ import annotations

import threading
import time

from purelink.runtime.http import TokenBucket


def test_workers_get_tokens_first_come_first_served():
    bucket = TokenBucket(rate=5, burst=1)
    bucket.acquire()  # the burst is spent: everyone after this waits in line
    served: list[int] = []
    threads = []
    for i in range(8):
        t = threading.Thread(target=lambda i=i: (bucket.acquire(), served.append(i)))
        t.start()
        threads.append(t)
        while len(bucket._line) + len(served) < i + 1:  # in line (or served) before the next one asks
            time.sleep(0.001)
    for t in threads:
        t.join()
    assert served == list(range(8))


def test_a_hold_still_stops_everyone_in_line():
    bucket = TokenBucket(rate=1000, burst=1)
    bucket.hold(0.3)
    start = time.monotonic()
    waited = bucket.acquire()
    assert waited >= 0.29 and time.monotonic() - start >= 0.29
