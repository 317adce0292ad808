"""An unconstrained PostgreSQL `numeric` keeps each value's own scale in the warehouse (1.000 stays
1.000 beside 1 and 2.5), on the first load and on an incremental one; DuckDB holds the same values
as DECIMAL(38,s), or PostgreSQL's exact text where DECIMAL cannot (docs/types.md)."""

from __future__ import annotations

import io

import duckdb
import pytest

from purelink.runtime import PostgresDestination, PostgresSource, Table, sql_run
from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination
from purelink.runtime.events import EventWriter

pytestmark = pytest.mark.postgres

VALUES = ["1.000", "1", "2.5", "-0.0100", "0", "123456789012345678901234567.12345", "NULL"]
SETUP = [
    "CREATE TABLE amounts (id int PRIMARY KEY, amount numeric, changed timestamptz NOT NULL DEFAULT '2020-01-01')",
    "INSERT INTO amounts (id, amount) VALUES " + ", ".join(f"({i}, {v})" for i, v in enumerate(VALUES, 1)),
    "CREATE TABLE whole (id int PRIMARY KEY, amount numeric)",  # no cursor: reloaded through a staging table
    "INSERT INTO whole SELECT id, amount FROM amounts",
]
TRUTH = "SELECT id, amount::text FROM {} ORDER BY id"


def run(postgres, db, destination, table: str) -> dict:
    return sql_run(PostgresSource(url=postgres.url(db)), [Table(table)], pipeline=f"scale_{table}",
                   destination=destination, events=EventWriter("t", io.StringIO()))


@pytest.mark.parametrize("table", ["amounts", "whole"])
def test_warehouse_keeps_each_values_scale(postgres, db, secrets_env, table):
    warehouse = postgres.create_database("wh")
    postgres.execute(db, *SETUP)
    assert run(postgres, db, PostgresDestination(postgres.url(warehouse)), table)["status"] == "success"
    assert postgres.query(warehouse, TRUTH.format(f"raw.{table}")) == postgres.query(db, TRUTH.format(table))
    # a later run: new values merged (incremental) or every row replaced (reload), scales kept too
    postgres.execute(db, f"INSERT INTO {table} (id, amount) VALUES (20, 7.50), (21, 1e-3)",
                     f"UPDATE {table} SET amount = 3.000 WHERE id = 2")
    if table == "amounts":
        postgres.execute(db, "UPDATE amounts SET changed = now() - interval '2 hours' WHERE id IN (2, 20, 21)")
    assert run(postgres, db, PostgresDestination(postgres.url(warehouse)), table)["status"] == "success"
    landed = postgres.query(warehouse, TRUTH.format(f"raw.{table}"))
    assert landed == postgres.query(db, TRUTH.format(table))
    assert (1, "1.000") in landed and (2, "3.000") in landed and (20, "7.50") in landed
    assert postgres.query(warehouse, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                     f"WHERE attrelid = 'raw.{table}'::regclass AND attname = 'amount'") == [("numeric",)]


def test_duckdb_holds_equal_values_or_postgresql_text(postgres, db, secrets_env, tmp_path):
    postgres.execute(db, *SETUP, "CREATE TABLE odd (id int PRIMARY KEY, amount numeric)",
                     "INSERT INTO odd SELECT id, amount FROM amounts UNION ALL SELECT 99, 'NaN'")
    path = tmp_path / "scale.duckdb"
    for table in ("whole", "odd"):
        assert run(postgres, db, DuckDBArrowDestination(path), table)["status"] in ("success", "success with warnings")
    con = duckdb.connect(str(path), read_only=True)
    try:
        kinds = dict(con.execute("SELECT table_name, data_type FROM duckdb_columns() WHERE column_name = 'amount' "
                                 "AND table_name IN ('whole', 'odd')").fetchall())
        whole = con.execute("SELECT id, CAST(amount AS VARCHAR) FROM postgres.whole ORDER BY id").fetchall()
        odd = con.execute("SELECT id, amount FROM postgres.odd ORDER BY id").fetchall()
    finally:
        con.close()
    # DECIMAL(38,5): the largest scale found; every value equal to the source's (padded to that scale)
    assert kinds == {"whole": "DECIMAL(38,5)", "odd": "VARCHAR"}
    source = postgres.query(db, TRUTH.format("whole"))
    assert len(whole) == len(source) == len(VALUES)
    for (i, got), (j, want) in zip(whole, source, strict=True):
        assert i == j and postgres.query(db, f"SELECT {got or 'NULL'}::numeric IS NOT DISTINCT FROM "
                                             f"{want or 'NULL'}::numeric")[0][0], (i, got, want)
    # the text form is PostgreSQL's own rendering, character for character (1.000 stays 1.000)
    assert odd == postgres.query(db, TRUTH.format("odd"))
