"""The probe's preview shows the types the table will have: read_json alone types [0, -5] as
HUGEINT, while the pipeline's table gets BIGINT (issue 15, item 11)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb

from purelink.discovery.probe import infer_columns, table_ddl
from purelink.runtime.destinations.base import Batch
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.formats import apply_formats, time_columns
from purelink.runtime.records import column_name, select

RECORDS = [
    {"id": "cus_1", "balance": 0, "created": 1767209093, "rate": 1.5, "live": True, "email": "a@example.com",
     "address": {"city": "Lyon", "zip": None}},
    {"id": "cus_2", "balance": -5, "created": 1767209000, "rate": 2, "live": False, "email": None,
     "address": {"city": "Oslo", "zip": "0150"}},
]
SPELLED = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}  # how information_schema spells the DDL's type
CHOSEN = ["balance", "created", "rate", "live", "email", "address.city", "address.zip"]


def test_preview_types_are_the_table_types(tmp_path):
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps(RECORDS))
    preview = {c.path: c.type for c in infer_columns(sample)}
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute(table_ddl("stripe", "customers", RECORDS, CHOSEN))
    table = {name: kind for name, kind in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'customers'").fetchall()}
    con.close()
    assert preview["balance"] == table["balance"] == "BIGINT"  # not HUGEINT
    for path in ["id", *CHOSEN]:
        assert preview[path] == table[column_name(path)], path


def test_declared_unix_times_preview_as_the_timestamptz_the_load_creates(tmp_path):
    """`created` is a Unix time in the spec: the preview, the DDL and the table the runtime really
    loads all say TIMESTAMPTZ, and the preview's examples are the instants, in UTC."""
    formats = {"created": "unix-seconds", "address.zip": "unix-seconds"}  # zip: declared, null in one record
    records = [{**r, "address": {"city": r["address"]["city"], "zip": None}} for r in RECORDS]
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps(records))
    preview = {c.path: c for c in infer_columns(sample, formats)}
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute(table_ddl("stripe", "customers", records, CHOSEN, formats=formats))
    ddl = {name: SPELLED.get(kind, kind) for name, kind in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'customers'").fetchall()}
    con.close()
    times = time_columns(formats)
    rows = [apply_formats(select(r, ["id", *CHOSEN]), times)[0] for r in records]
    dest = DuckDBDestination(tmp_path / "loaded.duckdb")
    dest.open()
    try:
        dest.commit([Batch("p", "customers", "stripe", "customers", ("id",), rows, times=times)],
                    run_id="r", extracted_at=datetime.now(UTC))
        loaded = dict(dest.con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                       "WHERE table_name = 'customers'").fetchall())
    finally:
        dest.close()
    assert preview["created"].type == ddl["created"] == "TIMESTAMPTZ"
    assert loaded["created"] == loaded["address_zip"] == "TIMESTAMP WITH TIME ZONE"  # DuckDB's spelling
    assert ddl["address_zip"] == "TIMESTAMPTZ"  # declared: typed before a value arrives
    assert sorted(preview["created"].examples) == ["2025-12-31T19:23:20Z", "2025-12-31T19:24:53Z"]
    for path in ["id", *CHOSEN]:
        assert preview[path].type == ddl[column_name(path)], path
