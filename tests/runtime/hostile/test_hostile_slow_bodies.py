"""A server that sends its headers and then its body a byte every few seconds, forever: httpx's
timeout bounds each read, so the request, its stream and the run waited forever. Each request has
a total deadline (the recipe's `requirements.request_deadline_s`, short here): past it, the
request is retried like a timeout, then its stream fails saying so, while the others load; a stop
during such a body ends the run at once."""

from __future__ import annotations

import signal
import time

from purelink.runtime.entry import EXIT_STOPPED
from purelink.runtime.http import RetryPolicy
from tests.runtime.hostile.conftest import Run


def test_a_body_that_never_ends_fails_its_stream_at_the_deadline_and_the_others_load(hostile, workspace):
    api = hostile(trickle_s=0.3)
    ws = workspace(api, ["cursor_items", "trickle_items"], request_deadline_s=1)
    started = time.monotonic()
    run = ws.run()
    took = time.monotonic() - started
    assert run.code != 0, run.output[-3000:]
    truth = api.truth()
    assert ws.query("SELECT count(*), count(DISTINCT id) FROM hostile.cursor_items")[0] == (len(truth), len(truth))
    assert run.finished["streams"]["cursor_items"]["status"] == "success"
    assert run.finished["streams"]["trickle_items"]["status"] == "failed"
    error, = run.of("error")
    assert error["stream"] == "trickle_items" and error["cause"]["kind"] == "api_unreachable"
    for part in (f"{api.base_url}/trickle", "still sending its answer after 1 s", "attempts"):
        assert part in error["message"], error
    assert "requirements.request_deadline_s" in error["guidance"] and "now 1 s" in error["guidance"], error
    assert run.finished["error"] == error["message"]
    # retried like a timeout, as often as the retry policy allows, each attempt cut at its deadline
    assert api.log.attempts["/trickle?limit=50"] == api.log.trickles == RetryPolicy().max_attempts
    assert run.finished["retries"] >= RetryPolicy().max_attempts - 1
    # 8 attempts of about a second each plus their backoff (at most 32 s in all): not forever
    assert took < 60, took


def test_a_stop_while_a_body_trickles_in_ends_the_run_at_once(hostile, workspace):
    api = hostile(trickle_s=0.3)
    ws = workspace(api, ["trickle_items"], request_deadline_s=600)  # no deadline comes to the rescue
    proc = ws.start()
    try:
        assert api.log.trickled.wait(60), "the run never requested the slow body"
        proc.send_signal(signal.SIGTERM)
        run = Run.of_process(proc, timeout=15)  # a ceiling, not a pause: the old code never ended
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert run.code == EXIT_STOPPED, run.output[-3000:]
    assert run.finished["status"] == "stopped"
    assert run.finished["streams"]["trickle_items"]["status"] == "stopped"
    assert not run.of("error")
    assert api.log.trickles == 1
