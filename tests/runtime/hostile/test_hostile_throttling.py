"""Items 6 and 7 of issue 13: rate limits waited out as the API asks, and left behind at once.

The lockout is scaled down (3 s for the minute-long lockouts real APIs impose): what is checked is
the shape of the waiting, which does not depend on the scale.
"""

from __future__ import annotations

import itertools
import re
import signal
import statistics
import time

from purelink.runtime.entry import EXIT_STOPPED
from tests.runtime.hostile.conftest import Run


def test_a_lockout_without_retry_after_is_waited_out_with_growing_backoff(hostile, workspace):
    api = hostile(lockout_s=3.0)
    ws = workspace(api, ["cursor_items"])
    run = ws.run()
    assert run.code == 0, run.output[-3000:]
    truth = api.truth()
    assert ws.query("SELECT count(*), count(DISTINCT id) FROM hostile.cursor_items")[0] == (len(truth), len(truth))
    throttled = [t for t, _, status in api.log.requests if status == 429]
    # doubling waits: a handful of 429s for the whole lockout, not one every quarter second
    assert 2 <= len(throttled) <= 8, len(throttled)
    gaps = [b - a for a, b in itertools.pairwise(throttled)]
    assert gaps[-1] > gaps[0]
    said = [w["message"] for w in run.of("warning") if "rate limited" in w["message"]]
    assert said and all(re.fullmatch(r"rate limited since \d\d:\d\d:\d\d: retrying in \d+ s \(backing off\)", m)
                        for m in said), said
    assert run.finished["throttled"] == len(throttled)


def test_a_lockout_longer_than_the_recipe_allows_fails_with_the_reason(hostile, workspace):
    api = hostile(lockout_s=30.0)
    ws = workspace(api, ["cursor_items"], retry_budget_s=2)
    run = ws.run()
    assert run.code != 0
    error, = run.of("error")
    assert error["stream"] == "cursor_items" and error["status"] == 429
    assert re.search(r"still rate limited after \d+ s, more than the 2 s allowed", error["message"]), error
    assert "retry_budget_s" in error["guidance"]
    assert "rate limited" in run.finished["error"]


def test_retry_after_dates_are_honoured_and_the_rate_recovers_at_once(hostile, workspace):
    api = hostile(n=2000, retry_after_every=5, retry_after_until=25)
    ws = workspace(api, ["page_items"], rate_limit=10)
    run = ws.run()
    assert run.code == 0, run.output[-3000:]
    truth = api.truth(numbered=True)
    assert ws.query("SELECT count(*), count(DISTINCT id) FROM hostile.page_items")[0] == (len(truth), len(truth))
    assert len(api.log.throttled_until) == 5
    assert api.log.early == 0  # no request before the date the API gave
    last_429 = max(t for t, _, status in api.log.requests if status == 429)
    after = [t for t, _, status in api.log.requests if t > last_429]
    assert len(after) >= 12
    # back at the recipe's 10 requests/s within a few requests, not crawling for minutes
    tail = [b - a for a, b in itertools.pairwise(after[4:])]
    assert statistics.median(tail) < 0.2, tail


def test_a_stop_during_a_lockout_ends_at_once_and_the_next_run_resumes_exactly(hostile, workspace):
    """A stop ('q', Ctrl-C, SIGTERM, the caller gone) does not wait out a rate limit: requests still
    waiting their turn or their backoff are dropped unsent, what was committed is kept and exact,
    and the next run picks up where the stopped one left off."""
    api = hostile(n=3000, lockout_s=3600.0)  # locked out from the 3rd request on, for longer than any test
    ws = workspace(api, ["page_items"])
    proc = ws.start()
    try:
        deadline = time.monotonic() + 120
        while not any(status == 429 for _, _, status in api.log.requests):  # the lockout has begun
            assert proc.poll() is None and time.monotonic() < deadline, "the run never met the lockout"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        # a ceiling, not a pause: under the old code the backoff alone outlasted it
        run = Run.of_process(proc, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert run.code == EXIT_STOPPED, run.output[-3000:]
    assert run.finished["status"] == "stopped" and run.finished["streams"]["page_items"]["status"] == "stopped"
    truth = api.truth(numbered=True)
    landed = ws.loaded("page_items")
    assert set(landed) < set(truth.keys()) and run.finished["records"] == len(landed)
    assert all(landed[i]["name"] == truth[i]["name"] and landed[i]["email"] == truth[i]["email"] for i in landed)
    status, = ws.query("SELECT status FROM _purelink.executions")[0]
    assert status == "stopped"

    api.switches.lockout_s = 0  # the API lets requests through again
    again = ws.run()
    assert again.code == 0, again.output[-3000:]
    assert ws.query("SELECT count(*), count(DISTINCT id) FROM hostile.page_items")[0] == (len(truth), len(truth))
    loaded = ws.loaded("page_items")
    assert all(loaded[i]["name"] == r["name"] and loaded[i]["email"] == r["email"] for i, r in truth.items())
