"""PostgreSQL as a destination behind the same interface as DuckDB: merge, widening, one transaction, one writer."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from purelink.runtime import Batch, PostgresDestination
from purelink.runtime.arrow_batch import ArrowBatch
from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination
from purelink.runtime.errors import DatabaseBusy, RuntimeFailure

NOW = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def warehouse(postgres, secrets_env):
    name = postgres.create_database("wh")
    dest = PostgresDestination(postgres.url(name), airbyte_metadata=True)
    dest.open()
    dest.start_run(run_id="r1", pipeline="p", recipe="p", version=1, mode="incremental")
    yield dest, name
    dest.close()


def batch(rows, state=None, **kw) -> Batch:
    return Batch(pipeline="p", stream="customers", schema="stripe", table="customers", primary_key=("id",),
                 rows=rows, state=state or {}, **kw)


def test_api_records_merge_on_key_and_widen(warehouse, postgres):
    dest, name = warehouse
    dest.commit([batch([{"id": "c1", "n": 1, "meta": {"a": 1}, "at": "2024-01-01T00:00:00Z"},
                        {"id": "c2", "n": 2, "meta": None, "at": None}], {"cursor": 5})],
                run_id="r1", extracted_at=NOW)
    changes = dest.commit([batch([{"id": "c1", "n": 1.5, "meta": [1, 2], "extra": True}], {"cursor": 9})],
                          run_id="r1", extracted_at=NOW)
    assert {(c.column, c.change) for c in changes} == {("n", "widened"), ("extra", "added")}
    rows = postgres.query(name, "SELECT id, n, meta::text, at, extra FROM raw.customers ORDER BY id")
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [("c1", 1.5, "[1, 2]", True), ("c2", 2.0, None, None)]
    assert rows[1][3] is None and rows[0][3] is None  # c1's second version has no `at`
    assert dest.load_state("p", "customers") == {"cursor": 9}
    meta = postgres.query(name, "SELECT _airbyte_raw_id = _airbyte_ab_id, _airbyte_meta->>'sync_id', "
                                "_purelink_run_id FROM raw.customers")
    assert set(meta) == {(True, "r1", "r1")}
    logged = postgres.query(name, "SELECT column_name, change FROM _purelink.schema_changes ORDER BY 1")
    assert logged == [("extra", "added"), ("n", "widened")]


def test_a_failed_batch_writes_neither_rows_nor_state(warehouse, postgres):
    dest, name = warehouse
    dest.commit([batch([{"id": "c1", "n": 1}], {"cursor": 1})], run_id="r1", extracted_at=NOW)
    good = ArrowBatch(pipeline="p", stream="t", schema="s", table="t", primary_key=("id",),
                      data=pa.table({"id": [1, 2], "v": ["a", "b"]}), state={"cursor": 2})
    bad = ArrowBatch(pipeline="p", stream="t", schema="s", table="t", primary_key=("id",),
                     data=pa.table({"id": [3, 3], "v": ["dup", "dup"]}), state={"cursor": 3})
    with pytest.raises(RuntimeFailure, match="Nothing of this batch was written"):
        dest.commit([good, bad], run_id="r1", extracted_at=NOW)
    assert postgres.query(name, "SELECT to_regclass('raw.t')") == [(None,)]  # even the CREATE rolled back
    assert dest.load_state("p", "t") == {}
    dest.commit([good], run_id="r1", extracted_at=NOW)  # the destination is usable after a rollback
    assert postgres.query(name, "SELECT count(*) FROM raw.t") == [(2,)]
    assert dest.load_state("p", "t") == {"cursor": 2}


@pytest.mark.parametrize("target", ["duckdb", "warehouse"])
def test_whole_table_reload_is_staged_then_swapped(target, warehouse, postgres, tmp_path):
    dest, name = warehouse
    if target == "duckdb":
        dest = DuckDBArrowDestination(tmp_path / "swap.duckdb")
        dest.open()

    def count():
        if target == "duckdb":
            found = dest.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'snap'").fetchone()[0]
            return dest.con.execute("SELECT count(*) FROM s.snap").fetchone()[0] if found else None
        return postgres.query(name, "SELECT count(*) FROM raw.snap")[0][0]

    def stage(n, fresh, start=0):
        return ArrowBatch(pipeline="p", stream="snap", schema="s", table="snap", primary_key=("id",),
                          load="stage", fresh=fresh,
                          data=pa.table({"id": list(range(start, start + n)), "v": ["x"] * n}))

    swap = ArrowBatch(pipeline="p", stream="snap", schema="s", table="snap", primary_key=("id",), load="swap",
                      state={"full_sync_run": "r1"})
    for i in range(4):
        dest.commit([stage(10 * i + 5, i == 0, start=100 * i)], run_id="r1", extracted_at=NOW)
    dest.commit([swap], run_id="r1", extracted_at=NOW)
    assert count() == 5 + 15 + 25 + 35
    # A second reload that dies after staging leaves the table as it was; the next one starts afresh.
    dest.commit([stage(3, True)], run_id="r2", extracted_at=NOW)
    assert count() == 80
    dest.commit([stage(7, True)], run_id="r3", extracted_at=NOW)
    dest.commit([swap], run_id="r3", extracted_at=NOW)
    assert count() == 7
    assert dest.load_state("p", "snap") == {"full_sync_run": "r1"}
    if target == "duckdb":
        dest.close()


def test_second_writer_of_one_pipeline_is_told_it_is_busy(warehouse, postgres):
    _, name = warehouse  # holds pipeline p's run
    other = PostgresDestination(postgres.url(name))
    other.open()
    try:
        with pytest.raises(DatabaseBusy, match="already running"):
            other.start_run(run_id="r2", pipeline="p", recipe="p", version=1, mode="incremental")
        other.start_run(run_id="r3", pipeline="another", recipe="another", version=1, mode="incremental")
    finally:
        other.close()


def test_executions_are_recorded(warehouse, postgres):
    dest, name = warehouse
    dest.finish_run("r1", status="success", duration_s=1.25, records=3, errors=0, error_message=None,
                    streams={"customers": {"records": 3}})
    row = postgres.query(name, "SELECT status, duration_s, records, streams->'customers'->>'records', "
                               "finished_at IS NOT NULL FROM _purelink.executions WHERE run_id = 'r1'")
    assert row == [("success", 1.25, 3, "3", True)]
    assert dest.location().endswith("(schema raw)") and "password" not in dest.location()
