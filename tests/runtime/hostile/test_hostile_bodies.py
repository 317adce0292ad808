"""Item 4 of issue 13 (bodies that are not JSON) and item 3's rule that a stream's failure stops
that stream only, with its cause in the run's error event."""

from __future__ import annotations

import json

import duckdb

from purelink.runtime.http import RetryPolicy


def test_html_and_truncated_bodies_are_retried_until_good(hostile, workspace):
    api = hostile(html_first=True, truncate_first=True)
    ws = workspace(api, ["cursor_items", "page_items", "offset_items"])
    run = ws.run()
    assert run.code == 0, run.output[-3000:]
    statuses = [s for _, _, s in api.log.requests]
    assert len(statuses) >= 3 * len(api.log.attempts)  # every page: HTML, then cut short, then good
    for stream, numbered in (("cursor_items", False), ("page_items", True), ("offset_items", True)):
        truth = api.truth(numbered)
        assert ws.query(f"SELECT count(*), count(DISTINCT id) FROM hostile.{stream}")[0] == (len(truth), len(truth))
    assert run.finished["status"] == "success" and run.finished["retries"] >= 2 * len(api.log.attempts)
    assert not ws.query("SELECT * FROM _purelink.dead_letters")


def test_a_garbled_compressed_body_is_retried_like_a_bad_one(hostile, workspace):
    # A proxy or a server that cuts a gzip stream: the API did answer, so not "stopped answering",
    # and the next attempt comes back whole (it failed the stream on the first, with the wrong cause).
    api = hostile(200, garbled_first=True)
    ws = workspace(api, ["cursor_items", "offset_items"])
    run = ws.run()
    assert run.code == 0, run.output[-3000:]
    assert all(n == 2 for n in api.log.attempts.values())  # every page: garbled, then good
    for stream, numbered in (("cursor_items", False), ("offset_items", True)):
        truth = api.truth(numbered)
        assert ws.query(f"SELECT count(*), count(DISTINCT id) FROM hostile.{stream}")[0] == (len(truth), len(truth))
        assert {i: r["name"] for i, r in ws.loaded(stream).items()} == {i: r["name"] for i, r in truth.items()}
    assert run.finished["retries"] == len(api.log.attempts)


def test_a_body_that_stays_html_fails_that_stream_only_and_says_why(hostile, workspace):
    api = hostile()
    ws = workspace(api, ["cursor_items", "broken_items", "page_items"])
    run = ws.run()
    assert run.code != 0
    truth = api.truth()
    for stream in ("cursor_items", "page_items"):  # the others loaded in full
        assert ws.query(f"SELECT count(*), count(DISTINCT id) FROM hostile.{stream}")[0] == (len(truth), len(truth))
        assert run.finished["streams"][stream]["status"] == "success"
    broken = run.finished["streams"]["broken_items"]
    assert broken["status"] == "failed" and broken["records"] == 0
    errors = run.of("error")
    assert len(errors) == 1 and errors[0]["stream"] == "broken_items"
    message = errors[0]["message"]
    for part in (f"{api.base_url}/broken", "HTTP 200", "text/html", "502 Bad Gateway", "not JSON"):
        assert part in message, message
    assert "proxy" in errors[0]["guidance"]
    assert run.finished["error"] == message
    (reason, record), = ws.dead_letters("broken_items")  # the page is kept, with its URL
    page = json.loads(record)
    assert page["url"].startswith(f"{api.base_url}/broken") and page["content_type"] == "text/html"
    assert "page could not be read" in reason
    # retried like a 5xx, as often as the retry policy allows, then given up
    assert {k: n for k, n in api.log.attempts.items() if k.startswith("/broken")} == {
        "/broken?limit=50": RetryPolicy().max_attempts}


def test_rows_the_database_refuses_fail_that_stream_only_with_the_database_reason(hostile, workspace):
    api = hostile()
    ws = workspace(api, ["cursor_items", "page_items"])
    con = duckdb.connect(str(ws.db))  # someone put a rule on one table by hand
    con.execute("CREATE SCHEMA hostile; CREATE TABLE hostile.page_items (id BIGINT CHECK (id <= 100))")
    con.close()
    run = ws.run()
    assert run.code != 0
    truth = api.truth()
    assert ws.query("SELECT count(*), count(DISTINCT id) FROM hostile.cursor_items")[0] == (len(truth), len(truth))
    assert run.finished["streams"]["cursor_items"]["status"] == "success"
    # Pages the table accepted are kept, whole; the first commit it refused stopped the stream.
    # Pages after the first are fetched in parallel and committed together, so page 2 (ids
    # 51-100, which the rule accepts) may have been refused with a later page in its transaction.
    count, low, high = ws.query("SELECT count(*), min(id), max(id) FROM hostile.page_items")[0]
    assert (count, low, high) in ((50, 1, 50), (100, 1, 100))
    assert ws.query("SELECT count(DISTINCT id) FROM hostile.page_items")[0][0] == count
    error, = run.of("error")
    assert error["stream"] == "page_items" and "CHECK constraint" in error["message"] and error["guidance"]
    assert run.finished["streams"]["page_items"] == {**run.finished["streams"]["page_items"],
                                                     "status": "failed", "error": error["message"]}


def test_the_sample_checks_retry_html_bodies_like_a_run_and_name_one_that_stays(hostile, workspace):
    api = hostile(html_first=True)
    ws = workspace(api, ["cursor_items", "broken_items"])
    run = ws.run("--sample", "5")
    # The good stream's first answer was HTML: retried, then sampled.
    assert run.finished["streams"]["cursor_items"]["records"] == 5, run.output[-3000:]
    first = [n for k, n in api.log.attempts.items() if k.startswith("/cursor?")]
    assert first and all(n >= 2 for n in first), api.log.attempts  # HTML first, then the good page
    broken = run.finished["streams"]["broken_items"]
    assert broken["status"] == "failed" and "text/html" in broken["error"] and "502 Bad Gateway" in broken["error"]
    errors = [e for e in run.of("error") if e.get("stream") == "broken_items"]
    assert errors and f"{api.base_url}/broken" in errors[0]["message"]
