"""Re-running with fewer columns: a full refresh drops the columns no longer chosen, an incremental
run keeps their old values; both recorded in _purelink.schema_changes. Compared value by value."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from purelink.runtime import Batch
from purelink.runtime.destinations.duckdb import DuckDBDestination

NOW = datetime(2025, 3, 1, tzinfo=UTC)
ROWS = [{"id": f"c{i}", "name": f"n{i}", "email": f"e{i}@x.io"} for i in range(50)]


def load(path, rows, *, full_refresh: bool, run_id: str) -> None:
    dest = DuckDBDestination(path)
    dest.open()
    try:
        dest.start_run(run_id=run_id, pipeline="p", recipe="p", version=1, mode="x")
        if full_refresh:
            dest.reset_stream("p", "customers", "stripe", "customers")
        for i in range(0, len(rows), 20):  # several batches: the change is recorded once
            dest.commit([Batch(pipeline="p", stream="customers", schema="stripe", table="customers",
                               primary_key=("id",), rows=rows[i:i + 20], selected=True)],
                        run_id=run_id, extracted_at=NOW)
    finally:
        dest.close()


def table(path) -> tuple[list[str], dict]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        cur = con.execute("SELECT * FROM stripe.customers ORDER BY id")
        names = [d[0] for d in cur.description]
        rows = {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
        changes = con.execute("SELECT run_id, column_name, change FROM _purelink.schema_changes "
                              "ORDER BY run_id, column_name").fetchall()
    finally:
        con.close()
    return names, rows, changes


def test_incremental_keeps_old_values_of_columns_no_longer_loaded(tmp_path):
    db = tmp_path / "x.duckdb"
    load(db, ROWS, full_refresh=False, run_id="r1")
    narrowed = [{"id": r["id"], "email": r["email"].upper()} for r in ROWS[:30]]
    load(db, narrowed, full_refresh=False, run_id="r2")
    names, rows, changes = table(db)
    assert "name" in names and len(rows) == 50
    for r in ROWS:
        got = rows[r["id"]]
        assert got["name"] == r["name"]  # old value kept, not NULL
        assert got["email"] == (r["email"].upper() if int(r["id"][1:]) < 30 else r["email"])
    assert changes == [("r2", "name", "kept")]


def test_full_refresh_drops_columns_no_longer_chosen(tmp_path):
    db = tmp_path / "x.duckdb"
    load(db, ROWS, full_refresh=False, run_id="r1")
    narrowed = [{"id": r["id"], "email": r["email"]} for r in ROWS]
    load(db, narrowed, full_refresh=True, run_id="r2")
    names, rows, changes = table(db)
    assert "name" not in names
    assert {k: (v["id"], v["email"]) for k, v in rows.items()} == {r["id"]: (r["id"], r["email"]) for r in ROWS}
    assert changes == [("r2", "name", "dropped")]
