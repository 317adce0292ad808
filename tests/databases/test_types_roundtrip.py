"""A table with every type the issue names round-trips into DuckDB and into the warehouse with equal values."""

from __future__ import annotations

import io
import math
import uuid

import duckdb
import pyarrow as pa
import pytest

from purelink.runtime import PostgresDestination, PostgresSource, Table, sql_run
from purelink.runtime.arrow_batch import normalize
from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination
from purelink.runtime.events import EventWriter

EVERY_TYPE = [
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
    """CREATE TABLE every_type (
        id bigint PRIMARY KEY, small smallint, whole integer, price numeric(12,3), exact numeric,
        wide numeric(50,10), ratio real, score double precision, flag boolean, body text, code varchar(8),
        fixed char(3), stamp timestamp, moment timestamptz, day date, clock time, span interval, ref uuid,
        doc json, docb jsonb, ints integer[], words text[], feeling mood, blob bytea)""",
    """INSERT INTO every_type VALUES
        (1, -32768, 2147483647, 123456789.123, 3.14159265358979323846264338327950288419716939937510,
         12345678901234567890123456789012345678.0123456789, 1.5, -2.25e300, true, 'héllo, "world"\n', 'v',
         'abc', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456+02', '2024-02-29', '13:14:15.5',
         '1 year 2 mons 3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
         '{"a": [1, 2.50], "b": "x"}', '{"b": {"c": null}, "n": 1.0}', '{1,NULL,3}', '{"x","y z",NULL}',
         'happy', '\\xdeadbeef00'),
        (2, 0, 0, -0.001, -1e-20, 0, 'NaN', 'Infinity', false, '', '', '', '0001-01-01 00:00:00',
         '1970-01-01 00:00:00+00', '0001-01-01', '00:00:00', '-1 mons +2 days -00:00:01', '00000000-0000-0000-0000-000000000000',
         '[]', '{}', '{}', '{}', 'sad', ''),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, NULL)""",
]
COLUMNS = ["id", "small", "whole", "price", "exact", "wide", "ratio", "score", "flag", "body", "code", "fixed",
           "stamp", "moment", "day", "clock", "span", "ref", "doc", "docb", "ints", "words", "feeling", "blob"]


@pytest.fixture
def every_type(postgres, db, secrets_env) -> str:
    postgres.execute(db, *EVERY_TYPE)
    return db


def source_rows(postgres, db) -> list[dict]:
    cur = postgres.connect(db).cursor()
    cur.execute(f"SELECT {', '.join(COLUMNS)} FROM every_type ORDER BY id")
    return normalize(cur.fetch_arrow_table()).to_pylist()


def plain(value):
    """Python values as both sides produce them: UUID objects and their text are one value."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def run(postgres, db, destination) -> dict:
    out = io.StringIO()
    source = PostgresSource(url=postgres.url(db))
    return sql_run(source, [Table("every_type")], pipeline="types", destination=destination,
                   events=EventWriter("t", out))


def test_every_type_into_duckdb(postgres, every_type, tmp_path):
    path = tmp_path / "types.duckdb"
    finished = run(postgres, every_type, DuckDBArrowDestination(path))
    assert finished["status"] == "success", finished
    con = duckdb.connect(str(path), read_only=True)
    types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                             "WHERE table_name = 'every_type'").fetchall())
    assert types["price"] == "DECIMAL(12,3)"
    assert types["exact"] == types["wide"] == "VARCHAR"  # unbounded or > 38 digits: exact text, never a float
    assert (types["moment"], types["stamp"], types["day"], types["clock"]) == (
        "TIMESTAMP WITH TIME ZONE", "TIMESTAMP", "DATE", "TIME")
    assert (types["span"], types["ref"], types["doc"], types["docb"]) == ("INTERVAL", "UUID", "JSON", "JSON")
    assert (types["ints"], types["words"], types["feeling"], types["blob"]) == ("INTEGER[]", "VARCHAR[]",
                                                                                 "VARCHAR", "BLOB")
    loaded = con.sql(f"SELECT {', '.join(COLUMNS)} FROM postgres.every_type ORDER BY id").arrow()
    if isinstance(loaded, pa.RecordBatchReader):
        loaded = loaded.read_all()
    expected = source_rows(postgres, every_type)
    for want, got in zip(expected, loaded.to_pylist(), strict=True):
        for column in COLUMNS:
            assert plain(got[column]) == plain(want[column]), column
    # the interval keeps months apart from days (Python's timedelta could not)
    assert loaded.to_pylist()[0]["span"].months == 14
    con.close()


def test_every_type_into_the_warehouse(postgres, every_type):
    warehouse = postgres.create_database("wh")
    finished = run(postgres, every_type, PostgresDestination(postgres.url(warehouse)))
    assert finished["status"] == "success", finished
    text = ", ".join(f"{c}::text" for c in COLUMNS)
    want = postgres.query(every_type, f"SELECT {text} FROM every_type ORDER BY id")
    got = postgres.query(warehouse, f"SELECT {text} FROM raw.every_type ORDER BY id")
    assert got == want  # PostgreSQL's own text form, column by column: equal values, equal precision
    types = dict(postgres.query(warehouse, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                                           "WHERE attrelid = 'raw.every_type'::regclass AND attnum > 0"))
    assert types["price"] == "numeric(12,3)" and types["exact"] == "numeric" and types["docb"] == "jsonb"
    assert types["span"] == "interval" and types["ref"] == "uuid" and types["ints"] == "integer[]"
    # a re-run replaces the rows in one transaction: same values, no duplicates
    run(postgres, every_type, PostgresDestination(postgres.url(warehouse)))
    assert postgres.query(warehouse, f"SELECT {text} FROM raw.every_type ORDER BY id") == want
