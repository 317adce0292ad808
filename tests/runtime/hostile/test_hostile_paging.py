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
