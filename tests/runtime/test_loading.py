"""Loading: schema drift, validations and dead letters, column selection, metadata, events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from purelink.runtime.destinations.base import Batch
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.errors import DatabaseBusy


def test_schema_drift_adds_columns_and_widens_types(sandbox_factory, pipeline):
    before = sandbox_factory(customers=600)
    pipeline(before).run()
    # The API changes shape between runs: records gain a field and balance becomes a float.
    after = sandbox_factory(customers=600, drift_after=300)
    p = pipeline(after)  # same workspace and database; the recipe's base URL changes (v2)
    _, events, _ = p.run("--full-refresh")
    types = dict(p.query("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'customers'"))
    assert types["loyalty_tier"] == "VARCHAR"
    assert types["balance"] == "DOUBLE"  # integers first, then floats: widened, never truncated
    changes = p.query("SELECT column_name, change, old_type, new_type FROM _purelink.schema_changes")
    assert ("loyalty_tier", "added", None, "VARCHAR") in changes
    assert ("balance", "widened", "BIGINT", "DOUBLE") in changes
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert any("loyalty_tier" in w for w in warnings)
    assert p.query("SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0] == (600, 600)


def test_nested_objects_stay_whole_and_nested_paths_can_be_chosen(tmp_path):
    dest = DuckDBDestination(tmp_path / "x.duckdb")
    dest.open()
    from purelink.runtime.records import select

    record = {"id": "a", "address": {"city": "Oslo", "zip": "0150"}, "tags": ["x", "y"], "n": 1}
    rows = [select(record, ["id", "address.city", "tags"])]
    dest.commit([Batch("p", "s", "src", "t", ("id",), rows)], run_id="r", extracted_at=datetime.now(UTC))
    full = [select(record, None)]
    dest.commit([Batch("p", "s2", "src", "t2", ("id",), full)], run_id="r", extracted_at=datetime.now(UTC))
    assert dest.con.execute("SELECT address_city, tags->>'$[1]' FROM src.t").fetchone() == ("Oslo", "y")
    assert dest.con.execute("SELECT address->>'city', json_type(tags) FROM src.t2").fetchone() == ("Oslo", "ARRAY")
    dest.close()


def test_bad_records_go_to_dead_letters_and_fail_the_run_past_the_share(sandbox_factory, tmp_path):
    from purelink.engine import Engine
    from purelink.recipes import parse_recipe

    api = sandbox_factory(customers=1000)
    engine = Engine(tmp_path)
    recipe = engine.recipes.save(parse_recipe(
        f"name: strict\nsource: {{name: stripe, base_url: '{api.stripe_base_url}'}}\n"
        "streams:\n  - name: customers\n    validations: [{kind: email, field: email}, {kind: required, field: email}]\n"
        "    max_bad_share: 0.01\n"
        "requirements: {history_start: 2020-01-01}\n"))
    import os

    os.environ["STRIPE_API_KEY"] = api.api_key
    result = engine.execute(recipe, executor="local")
    done = result.finished
    assert done["status"] == "failed" and result.exit_code == 1
    assert "failed validation" in done["error"]
    import duckdb

    con = duckdb.connect(str(engine.db_path(recipe)), read_only=True)
    reasons = con.execute("SELECT reason, record->>'id' FROM _purelink.dead_letters").fetchall()
    loaded = con.execute("SELECT count(*) FROM stripe.customers").fetchone()[0]
    con.close()
    assert reasons and loaded + len(reasons) == 1000
    assert {r.split(" ")[0] for r, _ in reasons} == {"email"}
    assert any("is required" in r for r, _ in reasons) and any("not an email" in r for r, _ in reasons)


def test_metadata_columns_and_executions(sandbox_factory, pipeline):
    api = sandbox_factory(customers=300)
    p = pipeline(api)
    _, events, _ = p.run()
    run_id = events[0]["run_id"]
    assert p.query("SELECT DISTINCT _purelink_run_id FROM stripe.customers") == [(run_id,)]
    assert p.query("SELECT count(*) FROM stripe.customers WHERE _purelink_extracted_at IS NULL")[0][0] == 0
    row = p.query("SELECT status, records, requests, bytes > 0, errors, duration_s > 0 "
                  f"FROM _purelink.executions WHERE run_id = '{run_id}'")
    assert row == [("success", 300, events[-1]["requests"], True, 0, True)]


def test_event_stream(sandbox_factory, pipeline):
    api = sandbox_factory(customers=1500, latency_ms=5)
    p = pipeline(api)
    _, events, _ = p.run()
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert {"page", "window_done"} <= set(kinds)
    assert all(e["run_id"] == events[0]["run_id"] for e in events)
    pages = [e for e in events if e["event"] == "page"]
    assert pages[-1]["total_records"] == 1500
    assert all(k in pages[-1] for k in ("bytes", "request_rate", "records_per_s", "progress", "eta_s"))
    done = [e for e in events if e["event"] == "window_done"]
    assert done[-1]["windows_done"] == done[-1]["windows_total"]
    assert max(e["progress"] for e in done) == pytest.approx(1.0)
    finished = events[-1]
    assert finished["status"] == "success" and finished["records"] == 1500
    assert finished["bytes"] > 0 and finished["storage_bytes"] > 0


def test_second_writer_gets_database_busy(tmp_path):
    path = tmp_path / "busy.duckdb"
    holder = DuckDBDestination(path)
    holder.open()
    import subprocess
    import sys

    code = ("from purelink.runtime.destinations.duckdb import connect\n"
            "from purelink.runtime.errors import DatabaseBusy\n"
            f"try:\n    connect({str(path)!r}, wait_s=0.5)\nexcept DatabaseBusy as e:\n    print(e.message)\n")
    out = subprocess.run(check=False, args=[sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    holder.close()
    assert "is busy: another process is writing to it" in out.stdout, out.stderr
    assert DatabaseBusy.__mro__[1].__name__ == "RuntimeFailure"


def test_state_and_rows_commit_together(tmp_path):
    """A failing batch rolls back the rows AND the state of every batch in the commit."""
    dest = DuckDBDestination(tmp_path / "x.duckdb")
    dest.open()
    now = datetime.now(UTC)
    ok = Batch("p", "s", "src", "t", ("id",), [{"id": 1, "v": "a"}], state={"window:1": {"next": None}})
    dest.commit([ok], run_id="r", extracted_at=now)
    good = Batch("p", "s", "src", "t", ("id",), [{"id": 2, "v": "b"}], state={"cursor": {"value": 5}})
    bad = Batch("p", "s", "src", "t", ("id",), [{"id": 3, "v": "c"}], state={"window:1": object()})
    with pytest.raises(TypeError):
        dest.commit([good, bad], run_id="r", extracted_at=now)
    assert dest.con.execute("SELECT id FROM src.t").fetchall() == [(1,)]
    assert json.loads(json.dumps(dest.load_state("p", "s"))) == {"window:1": {"next": None}}
    dest.close()


def test_ids_that_differ_only_in_type_are_one_record_in_a_page(tmp_path):
    # 1, 1.0 and "1" land as one key once the column is text: a page holding two of them must not
    # load two rows with one primary key (an adversarial trial's table kept both, run after run).
    from purelink.runtime.records import dedupe

    rows = [{"id": 1, "v": "int"}, {"id": "2", "v": "two"}, {"id": "1", "v": "text"}, {"id": 2.0, "v": "float two"},
            {"id": True, "v": "bool"}, {"id": None, "v": "no key"}]
    kept = dedupe(rows, ("id",))
    assert [r["v"] for r in kept] == ["text", "float two", "bool", "no key"]  # the last of each, in page order
    dest = DuckDBDestination(tmp_path / "t.duckdb")
    dest.open()
    try:
        dest.commit([Batch("p", "s", "src", "t", ("id",), kept[:2])], run_id="r", extracted_at=datetime.now(UTC))
        assert dest.con.execute("SELECT count(*), count(DISTINCT id) FROM src.t").fetchone() == (2, 2)
    finally:
        dest.close()
