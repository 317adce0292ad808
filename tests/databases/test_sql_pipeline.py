"""Database pipelines end to end in one process: queries with cursors, other databases, stop requests."""

from __future__ import annotations

import io
import json
import threading

import duckdb

from purelink.runtime import PostgresSource, Query, Table, sql_run
from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination
from purelink.runtime.events import EventWriter


def run(postgres, db, streams, path, **options) -> tuple[dict, list[dict]]:
    out = io.StringIO()
    finished = sql_run(PostgresSource(url=postgres.url(db)), streams, pipeline="p",
                       destination=DuckDBArrowDestination(path), events=EventWriter("t", out), **options)
    return finished, [json.loads(line) for line in out.getvalue().splitlines()]


def test_query_stream_with_cursor_and_a_table_of_another_database(postgres, db, tmp_path, secrets_env):
    other = postgres.create_database("other")
    postgres.execute(db, "CREATE TABLE orders AS SELECT g AS id, g * 10 AS total, "
                         "date '2024-01-01' + g AS day FROM generate_series(1, 50) g")
    postgres.execute(other, "CREATE TABLE lines (id int PRIMARY KEY, qty int)",
                     "INSERT INTO lines SELECT g, g FROM generate_series(1, 7) g")
    streams = [Query("big_orders", "SELECT id, total, day FROM orders WHERE total >= 200", primary_key="id",
                     cursor="day"),
               Table("lines", f"{other}.public.lines")]
    path = tmp_path / "q.duckdb"
    finished, events = run(postgres, db, streams, path)
    assert finished["status"] == "success", finished
    assert finished["streams"]["big_orders"]["records"] == 31
    assert finished["streams"]["big_orders"]["mode"] == "incremental by day"
    assert finished["streams"]["lines"]["records"] == 7
    assert events[0]["event"] == "started" and events[-1]["event"] == "finished"

    postgres.execute(db, "INSERT INTO orders SELECT g, g * 10, date '2024-01-01' + g FROM generate_series(51, 53) g",
                     "UPDATE orders SET total = 999 WHERE id = 5")  # id 5's day is old: a cursor cannot see it
    finished, _ = run(postgres, db, streams, path)
    assert finished["streams"]["big_orders"]["records"] == 3
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT id) FROM postgres.big_orders").fetchone() == (34, 34)
    assert con.execute("SELECT count(*) FROM postgres.lines").fetchone() == (7,)
    state = dict(con.execute("SELECT stream, value FROM _purelink.state WHERE key = 'cursor'").fetchall())
    assert json.loads(state["big_orders"]) == "2024-02-23"
    con.close()


def test_stop_leaves_the_table_as_it_was(postgres, db, tmp_path, secrets_env):
    postgres.execute(db, "CREATE TABLE big AS SELECT g AS id, repeat('z', 500) AS pad FROM generate_series(1, 20000) g")
    path = tmp_path / "stop.duckdb"
    finished, _ = run(postgres, db, [Table("big")], path)
    assert finished["records"] == 20000
    stop = threading.Event()
    stop.set()  # asked to stop before the first batch is written
    finished, _ = run(postgres, db, [Table("big")], path, stop=stop)
    assert finished["status"] == "stopped"
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM postgres.big").fetchone() == (20000,)
    con.close()


def test_sample_reads_a_few_rows_and_keeps_no_state(postgres, db, tmp_path, secrets_env):
    postgres.execute(db, "CREATE TABLE t AS SELECT g AS id, now() AS updated_at FROM generate_series(1, 100) g")
    path = tmp_path / "sample.duckdb"
    finished, _ = run(postgres, db, [Table("t")], path, sample=5)
    assert finished["status"] == "success" and finished["records"] == 5
    assert {c["name"] for c in finished["checks"]} == {"connectivity", "permissions", "sample records",
                                                       "storage writes"}
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM _purelink.state").fetchone() == (0,)
    con.close()
