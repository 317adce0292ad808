"""The probe's preview shows the types the table will have: read_json alone types [0, -5] as
HUGEINT, while the pipeline's table gets BIGINT (issue 15, item 11)."""

from __future__ import annotations

import json

import duckdb

from purelink.discovery.probe import infer_columns, table_ddl
from purelink.runtime.records import column_name

RECORDS = [
    {"id": "cus_1", "balance": 0, "created": 1767209093, "rate": 1.5, "live": True, "email": "a@example.com",
     "address": {"city": "Lyon", "zip": None}},
    {"id": "cus_2", "balance": -5, "created": 1767209000, "rate": 2, "live": False, "email": None,
     "address": {"city": "Oslo", "zip": "0150"}},
]
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
