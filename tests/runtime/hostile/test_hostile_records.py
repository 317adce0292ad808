"""Items 3 and 5 of issue 13: a bad record is a dead letter with its reason, never a failed run."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize("switch", ["case_twins", "lone_surrogate", "null_record", "invalid_utf8", "keyless",
                                    "odd_fields"])
def test_each_bad_record_is_a_dead_letter_and_the_rest_loads(hostile, workspace, switch):
    api = hostile(**{switch: True})
    ws = workspace(api, ["cursor_items", "page_items"])
    run = ws.run()
    assert run.code == 0, run.output[-3000:]
    dead = api.dead()
    assert dead  # the switch made bad records
    for stream, numbered in (("cursor_items", False), ("page_items", True)):
        truth = api.truth(numbered)
        assert ws.query(f"SELECT count(*), count(DISTINCT id) FROM hostile.{stream}")[0] == (len(truth), len(truth))
        assert ws.loaded(stream).keys() == truth.keys()
        letters = ws.dead_letters(stream)
        expected = list(api.dead(numbered).values())
        assert len(letters) == len(expected), letters
        for why in set(expected):  # each with its reason
            assert sum(why in reason for reason, _ in letters) == expected.count(why), letters
        assert run.finished["streams"][stream]["dead_letters"] == len(expected)
    assert run.finished["status"] == "success"


def test_key_less_records_never_pile_up_on_reruns(hostile, workspace):
    api = hostile(keyless=True)
    ws = workspace(api, ["cursor_items"])
    for _ in range(2):
        assert ws.run().code == 0
    truth = api.truth()
    assert ws.query("SELECT count(*), count(id), count(DISTINCT id) FROM hostile.cursor_items")[0] == (
        len(truth), len(truth), len(truth))
    reasons = [r for r, _ in ws.dead_letters("cursor_items")]
    assert reasons.count("primary key id is missing") == 2 and reasons.count("primary key id is null") == 2


def test_dead_letters_keep_the_record_as_it_came(hostile, workspace):
    api = hostile(case_twins=True, invalid_utf8=True, null_record=True)
    ws = workspace(api, ["cursor_items"])
    assert ws.run().code == 0
    letters = {reason: json.loads(record) for reason, record in ws.dead_letters("cursor_items")}
    twins = next(r for why, r in letters.items() if "differ only in case" in why)
    assert twins["Email"] == "TWIN@example.com" and twins["email"] == "user70@example.com"
    broken = next(r for why, r in letters.items() if "not valid Unicode" in why)
    assert broken["id"] == 94 and broken["name"].startswith("record \ufffd")  # where the bytes were, U+FFFD
    assert next(r for why, r in letters.items() if "not an object" in why) is None
    # records that spell `email` as `Email` load into the one email column
    loaded = ws.loaded("cursor_items")
    assert [loaded[pos + 1]["email"] for pos in range(80, 84)] == [f"user{p}@example.com" for p in range(80, 84)]
    # Ä and ä are two columns to DuckDB (it folds ASCII letters only): loaded, each in its own
    assert ws.query('SELECT id, "Ä", "ä" FROM hostile.cursor_items WHERE id IN (73, 75) ORDER BY id') == \
        [(73, "upper", "lower"), (75, "upper only", None)]
