"""Issue 13's combined run: every survivable fault at once loses nothing and doubles nothing; an
unsurvivable one stops only its stream, with its cause, and the others load."""

from __future__ import annotations

SURVIVABLE = {"cursor_gaps": True, "short_pages": True, "case_twins": True, "lone_surrogate": True,
              "null_record": True, "invalid_utf8": True, "keyless": True, "odd_fields": True, "html_first": True,
              "truncate_first": True, "lockout_s": 2.0, "retry_after_every": 7, "retry_after_until": 30,
              "text_times": True}
LOADING = {"cursor_items": False, "page_items": True, "offset_items": True}  # stream -> numbered


def check_every_stream(api, ws, runs: int) -> None:
    for stream, numbered in LOADING.items():
        truth = api.truth(numbered)
        assert ws.query(f"SELECT count(*), count(DISTINCT id) FROM hostile.{stream}")[0] == (len(truth), len(truth))
        loaded = ws.loaded(stream)
        assert loaded.keys() == truth.keys()  # 0 lost, 0 duplicated, no stranger
        assert all(loaded[i]["name"] == r["name"] and loaded[i]["created"] == r["created"]
                   for i, r in truth.items())
        expected = list(api.dead(numbered).values())
        letters = [reason for reason, _ in ws.dead_letters(stream)]
        assert len(letters) == runs * len(expected), letters
        for why in set(expected):
            assert sum(why in reason for reason in letters) == runs * expected.count(why)


def test_all_survivable_faults_at_once_lose_nothing_and_double_nothing(hostile, workspace):
    api = hostile(**SURVIVABLE)
    ws = workspace(api, list(LOADING))
    run = ws.run()
    assert run.code == 0, run.output[-3000:]
    assert run.finished["status"] == "success" and not run.of("error")
    stats = {s for _, _, s in api.log.requests}
    assert stats == {200, 429} and api.log.cursorless_last and api.log.early == 0  # the faults happened
    check_every_stream(api, ws, runs=1)
    again = ws.run()  # a re-run over the same faults still doubles nothing
    assert again.code == 0, again.output[-3000:]
    check_every_stream(api, ws, runs=2)


def test_an_unsurvivable_fault_stops_its_stream_with_its_cause_and_the_others_load(hostile, workspace):
    api = hostile(**SURVIVABLE)
    ws = workspace(api, [*LOADING, "broken_items"])
    run = ws.run()
    assert run.code != 0
    check_every_stream(api, ws, runs=1)
    streams = run.finished["streams"]
    assert {name: s["status"] for name, s in streams.items()} == {
        "cursor_items": "success", "page_items": "success", "offset_items": "success", "broken_items": "failed"}
    error, = run.of("error")
    assert error["stream"] == "broken_items" and "/broken" in error["message"] and error["guidance"]
    assert streams["broken_items"]["error"] == error["message"] == run.finished["error"]
