"""Items 1 and 2 of issue 13: paging that ends only when the API says so."""

from __future__ import annotations


def test_a_last_record_without_the_cursor_field_does_not_end_the_stream(hostile, workspace):
    api = hostile(cursor_gaps=True)
    ws = workspace(api, ["cursor_items"])
    run = ws.run()
    assert api.log.cursorless_last >= 2  # the fault really happened, more than once
    assert run.code == 0, run.output[-3000:]
    truth = api.truth()
    assert ws.query("SELECT count(*), count(DISTINCT id) FROM hostile.cursor_items")[0] == (len(truth), len(truth))
    loaded = ws.loaded("cursor_items")
    assert loaded.keys() == truth.keys()
    # The records figure counts each committed record once, though the page after a gap reads the
    # gap's records again.
    assert run.finished["streams"]["cursor_items"]["records"] == run.finished["records"] == len(truth)
    assert sum(p["records"] for p in run.of("page")) == len(truth)
    assert all(loaded[i]["uid"] == truth[i].get("uid") for i in truth)  # the gaps stay gaps (NULL)
    warnings = [w["message"] for w in run.of("warning")]
    assert any("cursor_items" in w and "no 'uid'" in w and "resuming after" in w for w in warnings), warnings
    again = ws.run()  # the saved state did not end the list either
    assert again.code == 0 and ws.query("SELECT count(*) FROM hostile.cursor_items")[0][0] == len(truth)


def test_short_pages_do_not_end_numbered_paging(hostile, workspace):
    api = hostile(short_pages=True)
    ws = workspace(api, ["page_items", "offset_items"])
    run = ws.run()
    assert run.code == 0, run.output[-3000:]
    truth = api.truth(numbered=True)
    assert len(truth) < api.n  # pages really were short
    for table in ("page_items", "offset_items"):
        assert ws.query(f"SELECT count(*), count(DISTINCT id) FROM hostile.{table}")[0] == (len(truth), len(truth))
        assert ws.loaded(table).keys() == truth.keys()
    assert run.finished["status"] == "success"
    # a short page while the API says more is worth a word, once per stream
    short = [w for w in run.of("warning") if "while the API says more" in w["message"]]
    assert sorted(w["stream"] for w in short) == ["offset_items", "page_items"]


def test_signals_that_disagree_are_a_warning_naming_the_stream(hostile, workspace):
    api = hostile(disagree=True)  # total/total_pages end one page early; has_more says the truth
    ws = workspace(api, ["page_items"])
    run = ws.run()
    assert run.code == 0, run.output[-3000:]
    truth = api.truth(numbered=True)
    assert ws.query("SELECT count(*), count(DISTINCT id) FROM hostile.page_items")[0] == (len(truth), len(truth))
    disagreements = [w for w in run.of("warning") if "signals disagree" in w["message"]]
    assert len(disagreements) == 1 and disagreements[0]["stream"] == "page_items"
    assert "total_pages says done" in disagreements[0]["message"] and "has_more says more" in disagreements[0]["message"]


def test_paging_that_goes_round_in_a_circle_stops_that_stream_with_its_cause(hostile, workspace):
    # A stuck cursor: the API serves its 2nd page for every later cursor, with has_more true. The
    # run used to ask for that page forever, its records figure climbing past everything the API has.
    api = hostile(stuck_cursor=True)
    ws = workspace(api, ["cursor_items", "page_items"])
    run = ws.run()
    assert run.code == 1, run.output[-3000:]
    stream = run.finished["streams"]["cursor_items"]
    assert stream["status"] == "failed", stream
    assert "the same 50 record(s) as an earlier page (/cursor?limit=50&starting_after=u000049)" in stream["error"], \
        stream["error"]
    assert "starting_after=u000099" in stream["error"]  # the request that was answered with the page before
    assert len(api.log.requests) < 40  # stopped at once, not after a timeout
    assert run.finished["streams"]["cursor_items"]["records"] <= 100  # never more than the API has
    truth = api.truth(numbered=True)  # the other stream loads whole
    assert ws.query("SELECT count(*), count(DISTINCT id) FROM hostile.page_items")[0] == (len(truth), len(truth))
    assert ws.loaded("page_items").keys() == truth.keys()


def test_an_api_that_serves_fewer_records_a_page_than_asked_loses_none(hostile, workspace):
    # The API caps pages at 20 whatever the limit asked (50): offsets that moved by the 50 asked
    # for skipped 30 records of every page, with a clean success (75 of 300 in a user's trial).
    api = hostile(200, limit_cap=20)
    ws = workspace(api, ["offset_items", "page_items"])
    run = ws.run()
    assert run.code == 0, run.output[-3000:]
    truth = api.truth(numbered=True)
    for table in ("offset_items", "page_items"):
        assert ws.query(f"SELECT count(*), count(DISTINCT id) FROM hostile.{table}")[0] == (len(truth), len(truth))
        assert ws.loaded(table).keys() == truth.keys()
        assert all(ws.loaded(table)[i]["name"] == truth[i]["name"] for i in truth)
    capped = [w for w in run.of("warning") if "the first page held 20 of 50 records" in w["message"]]
    assert [w["stream"] for w in capped] == ["offset_items"] and "page_size to 20" in capped[0]["message"]


def test_a_count_that_shrinks_mid_run_does_not_end_a_list_whose_pages_are_full(hostile, workspace):
    # The first page says 300 records; every later page counts 120 (a stale count, a cache), while
    # the API still serves all 300. Ending at the count lost 180 records with a clean success.
    api = hostile(300, stale_count=120)
    ws = workspace(api, ["offset_items", "page_items"])
    run = ws.run()
    assert run.code == 0, run.output[-3000:]
    truth = api.truth(numbered=True)
    for table in ("offset_items", "page_items"):
        assert ws.query(f"SELECT count(*), count(DISTINCT id) FROM hostile.{table}")[0] == (300, 300)
        loaded = ws.loaded(table)
        assert loaded.keys() == truth.keys() and all(loaded[i]["email"] == truth[i]["email"] for i in truth)
    early = [w for w in run.of("warning") if "said the list ended" in w["message"]]
    assert sorted(w["stream"] for w in early) == ["offset_items", "page_items"], run.of("warning")


def test_a_list_that_really_shrinks_mid_run_ends_where_its_records_end(hostile, workspace):
    # Records deleted upstream once the first page was read: the ranges planned from the first
    # count find empty pages past the new end, which end them (no failure, nothing invented).
    api = hostile(300, cut_to=170)
    ws = workspace(api, ["offset_items", "page_items"])
    run = ws.run()
    assert run.code == 0, run.output[-3000:]
    truth = api.truth(numbered=True)
    assert len(truth) == 170
    for table in ("offset_items", "page_items"):
        assert ws.query(f"SELECT count(*), count(DISTINCT id) FROM hostile.{table}")[0] == (170, 170)
        assert ws.loaded(table).keys() == truth.keys()
