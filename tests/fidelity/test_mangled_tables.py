"""Warehouse tables an earlier version wrote in mangled forms (money as integer cents, numeric
without precision as text, inet as wire bytes): convertible columns are migrated in place on the
next run and recorded; wire bytes stop the stream with the way out (--full-refresh), which works."""

from __future__ import annotations

import io
import json

from purelink.runtime import PostgresDestination, PostgresSource, Table, sql_run
from purelink.runtime.events import EventWriter


def run(postgres, db, warehouse, table: str, **options) -> tuple[dict, list[dict]]:
    out = io.StringIO()
    finished = sql_run(PostgresSource(url=postgres.url(db)), [Table(table)], pipeline=f"old_{table}",
                       destination=PostgresDestination(postgres.url(warehouse)), events=EventWriter("t", out), **options)
    return finished, [json.loads(line) for line in out.getvalue().splitlines()]


def test_mangled_columns_are_migrated_or_reported(postgres, db, secrets_env):
    warehouse = postgres.create_database("wh")
    postgres.execute(db, "CREATE TABLE prices (id int PRIMARY KEY, price money, ratio numeric, "
                         "changed timestamptz NOT NULL DEFAULT '2020-01-01')",
                     "INSERT INTO prices (id, price, ratio) SELECT g, g * 1.25, g / 7.0 FROM generate_series(1, 30) g",
                     "CREATE TABLE hosts (id int PRIMARY KEY, addr inet, changed timestamptz NOT NULL DEFAULT '2020-01-01')",
                     "INSERT INTO hosts SELECT g, ('10.0.0.' || g)::inet FROM generate_series(1, 20) g",
                     "CREATE TABLE nets (id int PRIMARY KEY, net cidr)",  # reloaded whole on every run
                     "INSERT INTO nets SELECT g, ('10.' || g || '.0.0/16')::cidr FROM generate_series(1, 5) g")
    for table in ("prices", "hosts", "nets"):
        assert run(postgres, db, warehouse, table)[0]["status"] == "success"
    # What an earlier version left: integer cents, text numerals, the wire bytes of inet.
    postgres.execute(warehouse,
                     "ALTER TABLE raw.prices ALTER COLUMN price TYPE bigint USING (price::numeric * 100)::bigint",
                     "ALTER TABLE raw.prices ALTER COLUMN ratio TYPE text USING ratio::text",
                     "ALTER TABLE raw.hosts ALTER COLUMN addr TYPE bytea USING convert_to(addr::text, 'UTF8')",
                     "ALTER TABLE raw.nets ALTER COLUMN net TYPE bytea USING convert_to(net::text, 'UTF8')")
    for table in ("prices", "hosts"):
        postgres.execute(db, f"UPDATE {table} SET changed = now() - interval '2 hours' WHERE id = 3")
    postgres.execute(db, "UPDATE prices SET price = 99.99 WHERE id = 3")

    # trim_scale: the migrated rows keep the scale of the text an earlier version wrote (1.000 as 1)
    truth = "SELECT id, price::text, trim_scale(ratio::numeric)::text FROM {} ORDER BY id"
    finished, events = run(postgres, db, warehouse, "prices")
    assert finished["status"] in ("success", "success with warnings"), finished
    assert postgres.query(warehouse, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                                     "'raw.prices'::regclass AND attname IN ('price', 'ratio') ORDER BY attname") == \
        [("money",), ("numeric",)]
    assert postgres.query(warehouse, truth.format("raw.prices")) == postgres.query(db, truth.format("prices"))
    changes = postgres.query(warehouse, "SELECT column_name, change, old_type, new_type FROM _purelink.schema_changes "
                                        "WHERE table_name = 'prices' ORDER BY column_name")
    assert changes == [("price", "migrated", "bigint", "money"), ("ratio", "migrated", "text", "numeric")]
    assert any("migrated" in e.get("message", "") for e in events if e["event"] == "warning")

    # A whole-table reload replaces every row, so its wire-bytes column is simply retyped.
    finished, _ = run(postgres, db, warehouse, "nets")
    assert finished["status"] in ("success", "success with warnings"), finished
    assert postgres.query(warehouse, "SELECT id, net::text FROM raw.nets ORDER BY id") == \
        postgres.query(db, "SELECT id, net::text FROM nets ORDER BY id")

    # An incremental load would leave old rows as bytes beside new ones: stopped, with the way out.
    finished, events = run(postgres, db, warehouse, "hosts")
    assert finished["status"] == "failed"
    error = next(e for e in events if e["event"] == "error")
    assert "wire bytes" in error["message"] and "--full-refresh" in error["guidance"]
    finished, _ = run(postgres, db, warehouse, "hosts", full_refresh=True)
    assert finished["status"] in ("success", "success with warnings"), finished
    assert postgres.query(warehouse, "SELECT id, addr::text FROM raw.hosts ORDER BY id") == \
        postgres.query(db, "SELECT id, addr::text FROM hosts ORDER BY id")


def test_mangled_duckdb_columns_are_migrated(postgres, db, tmp_path, secrets_env):
    import duckdb

    from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination

    path = tmp_path / "old.duckdb"
    postgres.execute(db, "CREATE TABLE prices (id int PRIMARY KEY, price money, ratio numeric, "
                         "changed timestamptz NOT NULL DEFAULT '2020-01-01')",
                     "INSERT INTO prices (id, price, ratio) SELECT g, g * 1.25, g / 8.0 FROM generate_series(1, 30) g")

    def load() -> dict:
        return sql_run(PostgresSource(url=postgres.url(db)), [Table("prices")], pipeline="old_prices",
                       destination=DuckDBArrowDestination(path), events=EventWriter("t", io.StringIO()))

    assert load()["status"] == "success"
    con = duckdb.connect(str(path))  # what an earlier version left: integer cents, text numerals
    con.execute("ALTER TABLE postgres.prices ALTER price TYPE BIGINT USING CAST(price * 100 AS BIGINT)")
    con.execute("ALTER TABLE postgres.prices ALTER ratio TYPE VARCHAR USING CAST(ratio AS VARCHAR)")
    con.close()
    postgres.execute(db, "UPDATE prices SET price = 99.99, changed = now() - interval '2 hours' WHERE id = 3")
    assert load()["status"] in ("success", "success with warnings")
    con = duckdb.connect(str(path), read_only=True)
    try:
        types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'prices' "
                                 "AND column_name IN ('price', 'ratio')").fetchall())
        landed = con.execute("SELECT id, CAST(price AS VARCHAR), CAST(ratio AS VARCHAR) FROM postgres.prices "
                             "ORDER BY id").fetchall()
        changes = con.execute("SELECT column_name, change FROM _purelink.schema_changes WHERE change = 'migrated' "
                              "ORDER BY 1").fetchall()
    finally:
        con.close()
    assert types["price"].startswith("DECIMAL") and types["ratio"].startswith("DECIMAL"), types
    source = postgres.query(db, "SELECT id, price::numeric::text, ratio::text FROM prices ORDER BY id")
    assert [(i, float(p), float(r)) for i, p, r in landed] == [(i, float(p), float(r)) for i, p, r in source]
    assert changes == [("price", "migrated"), ("ratio", "migrated")]
