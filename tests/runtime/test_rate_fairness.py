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


def test_a_declared_burst_sends_that_many_seconds_of_requests_at_once_then_paces(monkeypatch):
    """A connector's `burst_s` (Stripe's token bucket holds a second of requests): after a pause a
    run sends that many without waiting; the one after waits for the rate. The clock stands still,
    so no token comes back meanwhile."""
    monkeypatch.setattr("purelink.runtime.http.time.monotonic", lambda: 1000.0)
    for bucket, burst in ((TokenBucket(rate=50, burst_s=1), 50), (TokenBucket(rate=50), 5)):  # default: 0.1 s
        assert [bucket.acquire() for _ in range(burst)] == [0.0] * burst  # not one waited
        assert bucket._tokens < 1  # the next one waits


def test_the_generated_module_carries_the_connectors_burst():
    from purelink.pipeline.codegen import render
    from purelink.recipes import parse_recipe

    def module(source: str, stream: str) -> str:
        return render(parse_recipe(f"name: r\nsource: {{name: {source}}}\nstreams: [{{name: {stream}}}]\n"))

    assert "burst_s=1.0," in module("stripe", "customers")
    assert "burst_s" not in module("github", "commits")
