"""Incremental database loads lose nothing: a transaction that commits late, rows without a cursor
value, cursors found by their usual names (Pagila's `last_update`) or named on the command line,
and `_airbyte_generation_id` moving only when a table is rebuilt. Every check compares the landed
rows with the source, value by value."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import duckdb
import pytest

from purelink.runtime import PostgresSource, Table, sql_run
from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination
from purelink.runtime.events import EventWriter


def run(postgres, db, streams, path, **options) -> tuple[dict, list[dict]]:
    out = io.StringIO()
    finished = sql_run(PostgresSource(url=postgres.url(db)), streams, pipeline="p",
                       destination=DuckDBArrowDestination(path, airbyte_metadata=True),
                       events=EventWriter("t", out), **options)
    return finished, [json.loads(line) for line in out.getvalue().splitlines()]


def source_rows(postgres, db, table: str = "t") -> list[tuple]:
    return postgres.query(db, f"SELECT id, v, (extract(epoch FROM updated_at) * 1000000)::bigint FROM {table} ORDER BY id")


def landed_rows(path, table: str = "t") -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT id, v, epoch_us(updated_at) FROM postgres.{table} ORDER BY id").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("lookback_s, late_rows_loaded", [(3600, True), (0, False)])
def test_a_transaction_that_commits_after_a_run_is_loaded_by_the_next(postgres, db, tmp_path, secrets_env,
                                                                      lookback_s, late_rows_loaded):
    postgres.execute(db, "CREATE TABLE t (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL)",
                     "INSERT INTO t SELECT g, 'v' || g, now() - interval '1 day' FROM generate_series(1, 5) g")
    late = postgres.connect(db)  # a long transaction: its rows carry its start time, committed later
    late_cur = late.cursor()
    late_cur.execute("UPDATE t SET v = 'late', updated_at = now() WHERE id = 1")
    late_cur.execute("INSERT INTO t VALUES (100, 'late insert', now())")
    postgres.execute(db, "INSERT INTO t VALUES (6, 'v6', clock_timestamp())")  # committed, stamped after
    path = tmp_path / f"late{lookback_s}.duckdb"
    finished, _ = run(postgres, db, [Table("t")], path, lookback_s=lookback_s)
    assert finished["status"] == "success" and finished["streams"]["t"]["records"] == 6
    late.commit()
    late.close()

    finished, _ = run(postgres, db, [Table("t")], path, lookback_s=lookback_s)
    assert finished["status"] == "success"
    if late_rows_loaded:
        assert landed_rows(path) == source_rows(postgres, db)
    else:  # what lookback is for: without it the late transaction's rows are skipped for good
        assert 100 not in {r[0] for r in landed_rows(path)}


def test_rows_without_a_cursor_value_load_and_are_reported(postgres, db, tmp_path, secrets_env):
    postgres.execute(db, "CREATE TABLE t (id int PRIMARY KEY, v text, updated_at timestamptz)",
                     "INSERT INTO t SELECT g, 'v' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE "
                     "timestamptz '2024-01-01' + g * interval '1 hour' END FROM generate_series(1, 30) g")
    path = tmp_path / "nulls.duckdb"
    finished, events = run(postgres, db, [Table("t")], path)
    assert finished["streams"]["t"]["mode"] == "incremental by updated_at"
    assert landed_rows(path) == source_rows(postgres, db)
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert any("10 row(s) have no updated_at value" in w for w in warnings), warnings

    postgres.execute(db, "INSERT INTO t VALUES (31, 'no stamp', NULL), (32, 'stamped', now())",
                     "UPDATE t SET v = 'changed, still no stamp' WHERE id = 3")
    finished, _ = run(postgres, db, [Table("t")], path)
    assert finished["status"] == "success"
    assert landed_rows(path) == source_rows(postgres, db)


def test_generation_id_moves_when_the_table_is_rebuilt(postgres, db, tmp_path, secrets_env):
    postgres.execute(db, "CREATE TABLE t (id int PRIMARY KEY, v text, updated_at timestamptz)",
                     "INSERT INTO t SELECT g, 'v' || g, timestamptz '2024-01-01' + g * interval '1 hour' "
                     "FROM generate_series(1, 20) g",
                     "CREATE TABLE plain (id int PRIMARY KEY, v text)",
                     "INSERT INTO plain SELECT g, 'p' || g FROM generate_series(1, 7) g")
    path = tmp_path / "gen.duckdb"
    streams = [Table("t"), Table("plain")]

    def generations() -> dict:
        con = duckdb.connect(str(path), read_only=True)
        try:
            return {name: con.execute(f"SELECT list(DISTINCT _airbyte_generation_id) FROM postgres.{name}").fetchone()[0]
                    for name in ("t", "plain")}
        finally:
            con.close()

    run(postgres, db, streams, path)
    assert generations() == {"t": [0], "plain": [0]}
    postgres.execute(db, "UPDATE t SET v = 'x', updated_at = now() WHERE id = 1")
    run(postgres, db, streams, path)  # incremental keeps the generation; a whole-table reload is a new one
    assert generations() == {"t": [0], "plain": [1]}
    run(postgres, db, streams, path, full_refresh=True)
    assert generations() == {"t": [1], "plain": [2]}
    assert landed_rows(path) == source_rows(postgres, db)


def cli(*args: str, cwd, env) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def test_pagila_shaped_tables_are_incremental_without_hand_edits(postgres, db, tmp_path, secrets_env):
    # Pagila's film table: its cursor is `last_update`, a timestamp without time zone.
    postgres.execute(db, "CREATE TABLE film (film_id serial PRIMARY KEY, title text NOT NULL, "
                         "rental_rate numeric(4,2), last_update timestamp without time zone NOT NULL DEFAULT now())",
                     "INSERT INTO film (title, rental_rate, last_update) SELECT 'FILM ' || g, 0.99 + g % 3, "
                     "timestamp '2022-02-15 09:46:27' FROM generate_series(1, 200) g",
                     "CREATE TABLE payment_log (id int PRIMARY KEY, amount numeric(5,2), stamp timestamptz)",
                     "INSERT INTO payment_log SELECT g, g, timestamptz '2022-01-01' + g * interval '1 minute' "
                     "FROM generate_series(1, 50) g")
    env = {**secrets_env, "PYTHONPATH": os.environ.get("PYTHONPATH", secrets_env["PYTHONPATH"])}
    cli("recipes", "new", "pagila", "--source", "postgres", "--streams", "public.film,public.payment_log:payments",
        "--cursor", "public.payment_log:stamp", "--base-url", postgres.url(db), "--executor", "local",
        cwd=tmp_path, env=env)
    first = json.loads(cli("recipes", "run", "pagila", "--format", "json", cwd=tmp_path, env=env)
                       .stdout.splitlines()[-1])
    assert first["streams"]["public.film"]["mode"] == "incremental by last_update"
    assert first["streams"]["public.payment_log"]["mode"] == "incremental by stamp"
    assert first["streams"]["public.film"]["records"] == 200

    postgres.execute(db, "UPDATE film SET rental_rate = 9.99, last_update = now() WHERE film_id IN (3, 5, 7)",
                     "INSERT INTO payment_log VALUES (51, 1.5, now())")
    second = json.loads(cli("recipes", "run", "pagila", "--format", "json", cwd=tmp_path, env=env)
                        .stdout.splitlines()[-1])
    assert second["streams"]["public.film"]["records"] == 3
    assert second["streams"]["public.payment_log"]["records"] == 1
    con = duckdb.connect(str(tmp_path / "data" / "purelink.duckdb"), read_only=True)
    try:
        landed = con.execute("SELECT film_id, title, rental_rate::VARCHAR, last_update::VARCHAR FROM postgres.film "
                             "ORDER BY film_id").fetchall()
        payments = con.execute("SELECT id, amount::VARCHAR, epoch_us(stamp) FROM postgres.payments ORDER BY id").fetchall()
    finally:
        con.close()
    source = postgres.query(db, "SELECT film_id, title, rental_rate::text, last_update::text FROM film ORDER BY film_id")
    assert landed == source
    assert payments == postgres.query(
        db, "SELECT id, amount::text, (extract(epoch FROM stamp) * 1000000)::bigint FROM payment_log ORDER BY id")


def test_record_batches_carry_their_generation_into_duckdb(tmp_path):
    from datetime import UTC, datetime

    from purelink.runtime.destinations.base import Batch
    from purelink.runtime.destinations.duckdb import DuckDBDestination

    dest = DuckDBDestination(tmp_path / "g.duckdb", airbyte_metadata=True)
    dest.open()
    try:
        now = datetime.now(UTC)
        rows = [{"id": "a", "n": 1}, {"id": "b", "n": 2}]
        dest.commit([Batch("p", "s", "api", "things", ("id",), rows, generation=3)], run_id="r1", extracted_at=now)
        dest.commit([Batch("p", "s", "api", "things", ("id",), [{"id": "a", "n": 5}], generation=4)],
                    run_id="r2", extracted_at=now)
        landed = dest.con.execute("SELECT id, n, _airbyte_generation_id, _purelink_run_id FROM api.things "
                                  "ORDER BY id").fetchall()
    finally:
        dest.close()
    assert landed == [("a", 5, 4, "r2"), ("b", 2, 3, "r1")]


def test_lookback_never_duplicates_rows_of_a_table_without_a_key(postgres, db, tmp_path, secrets_env):
    postgres.execute(db, "CREATE TABLE t (id int, v text, updated_at timestamptz NOT NULL)",
                     "INSERT INTO t SELECT g, 'v' || g, now() FROM generate_series(1, 25) g")
    path = tmp_path / "keyless.duckdb"
    for _ in range(2):  # the rows are recent: a lookback would read them again and append them twice
        assert run(postgres, db, [Table("t")], path, lookback_s=3600)[0]["status"] == "success"
    assert landed_rows(path) == source_rows(postgres, db)
