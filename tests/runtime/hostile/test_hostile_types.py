"""Item 8 of issue 13: a timestamp column that turns into text keeps its loaded values as ISO 8601 UTC."""

from __future__ import annotations


def test_widening_a_timestamp_to_text_keeps_loaded_values_in_iso_utc(hostile, workspace):
    api = hostile()
    ws = workspace(api, ["cursor_items"])
    env = {"TZ": "America/New_York"}  # DuckDB's own cast would write local time here
    assert ws.run(env=env).code == 0
    assert ws.query("SELECT data_type FROM duckdb_columns() WHERE table_name = 'cursor_items' "
                    "AND column_name = 'created'") == [("TIMESTAMP WITH TIME ZONE",)]
    # the API now sends free text in `created`, and no longer lists the first 50 records
    api.switches.text_times, api.switches.hide_below = True, 50
    run = ws.run(env=env)
    assert run.code == 0, run.output[-3000:]
    changes = ws.query("SELECT column_name, old_type, new_type FROM _purelink.schema_changes")
    assert changes == [("created", "TIMESTAMPTZ", "VARCHAR")]
    assert any("created widened from TIMESTAMPTZ to VARCHAR" in w["message"] for w in run.of("warning"))
    loaded = ws.loaded("cursor_items")
    source = {r["id"]: r["created"] for r in api.records()}  # as the API sends them now
    api.switches.text_times = False
    original = {r["id"]: r["created"] for r in api.records()[:50]}  # loaded by the first run only
    assert loaded.keys() == source.keys()
    for i, row in loaded.items():
        expected = original[i] if i in original else source[i]
        assert row["created"] == expected, (i, row["created"], expected)
    assert original[1] == "2020-09-13T12:26:40Z"
