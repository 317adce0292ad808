"""Items 6 and 7 of issue 13: rate limits waited out as the API asks, and left behind at once.

The lockout is scaled down (3 s for the minute-long lockouts real APIs impose): what is checked is
the shape of the waiting, which does not depend on the scale.
"""

from __future__ import annotations

import itertools
import re
import statistics


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
