"""DuckDB tables an earlier version wrote with PostgreSQL's infinities as year 5877612 BC and with
two-dimensional arrays flattened: the next load repairs the dates in place (recorded, compared
value by value with the source), and refuses to append to flattened arrays, naming the table, the
column and --full-refresh in the error event and the executions row, until a full refresh
reloads them whole."""

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
from purelink.runtime.destinations.duckdb_legacy import repair
from purelink.runtime.events import EventWriter

pytestmark = pytest.mark.postgres

SOURCE = [
    ("CREATE TABLE events (id int PRIMARY KEY, day date, stamp timestamp, moment timestamptz, "
    "changed timestamptz NOT NULL DEFAULT '2020-01-01')"),
    ("INSERT INTO events (id, day, stamp, moment) VALUES (1, 'infinity', '-infinity', 'infinity'), "
    "(2, '-infinity', 'infinity', '-infinity'), (3, '2024-02-29', '2024-01-02 03:04:05.5', '2024-01-02 03:04:05+00'), "
    "(4, NULL, NULL, NULL)"),
    "CREATE TABLE grids (id int PRIMARY KEY, cells integer[], changed timestamptz NOT NULL DEFAULT '2020-01-01')",
    "INSERT INTO grids (id, cells) VALUES (1, '{{1,2},{3,4}}'), (2, '{5,6}'), (3, NULL), (4, '{{7},{8}}')",
]
# What an earlier version left: the driver's wrapped sentinels, as DuckDB renders them
WRAPPED = {
    "day": ("CAST('5877612-06-21 (BC)' AS DATE)", "CAST('5877612-06-22 (BC)' AS DATE)"),
    "stamp": ("CAST('290279-12-22 (BC) 19:59:05.224191' AS TIMESTAMP)",
              "CAST('290279-12-22 (BC) 19:59:05.224192' AS TIMESTAMP)"),
    "moment": ("CAST('290279-12-22 (BC) 19:59:05.224191+00' AS TIMESTAMPTZ)",
               "CAST('290279-12-22 (BC) 19:59:05.224192+00' AS TIMESTAMPTZ)"),
}


def load(postgres, db, path, table: str, **options) -> tuple[dict, list[dict]]:
    out = io.StringIO()
    finished = sql_run(PostgresSource(url=postgres.url(db)), [Table(table)], pipeline=f"old_{table}",
                       destination=DuckDBArrowDestination(path), events=EventWriter("t", out), **options)
    return finished, [json.loads(line) for line in out.getvalue().splitlines()]


def duck(path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_infinite_dates_written_as_year_5877612_bc_are_repaired(postgres, db, tmp_path, secrets_env):
    postgres.execute(db, *SOURCE)
    path = tmp_path / "old.duckdb"
    assert load(postgres, db, path, "events")[0]["status"] == "success"
    con = duckdb.connect(str(path))
    for column, (plus, minus) in WRAPPED.items():  # the table as the earlier version wrote it
        con.execute(f"UPDATE postgres.events SET {column} = CASE WHEN {column} = 'infinity' THEN {plus} "
                    f"ELSE {minus} END WHERE NOT isfinite({column})")
    assert con.execute("SELECT count(*) FROM postgres.events WHERE year(day) = -5877611").fetchall() == [(2,)]
    con.close()
    postgres.execute(db, "UPDATE events SET stamp = '2025-05-05', changed = now() - interval '2 hours' WHERE id = 3")

    finished, events = load(postgres, db, path, "events")
    assert finished["status"] in ("success", "success with warnings"), events
    truth = postgres.query(db, "SELECT id, day::text, stamp::text, CASE WHEN isfinite(moment) THEN "
                               "extract(epoch FROM moment)::text ELSE moment::text END FROM events ORDER BY id")
    landed = duck(path, "SELECT id, CAST(day AS VARCHAR), CAST(stamp AS VARCHAR), CASE WHEN isfinite(moment) "
                        "THEN CAST(epoch(moment) AS VARCHAR) ELSE CAST(moment AS VARCHAR) END FROM postgres.events "
                        "ORDER BY id")
    assert [(i, d, s, m if m is None or "inf" in m else str(float(m))) for i, d, s, m in landed] == \
        [(i, d, s, m if m is None or "inf" in m else str(float(m))) for i, d, s, m in truth]
    changes = duck(path, "SELECT column_name, change, old_type FROM _purelink.schema_changes "
                         "WHERE table_name = 'events' ORDER BY column_name")
    assert [(c, change) for c, change, _ in changes] == [("day", "migrated"), ("moment", "migrated"),
                                                         ("stamp", "migrated")]
    assert "5877612 BC" in changes[0][2]
    assert any("5877612 BC" in e["message"] for e in events if e["event"] == "warning")
    # repaired once: the next load finds nothing more to repair
    assert load(postgres, db, path, "events")[0]["status"] == "success"


def test_flattened_arrays_stop_the_stream_until_a_full_refresh(postgres, db, tmp_path, secrets_env):
    postgres.execute(db, *SOURCE)
    path = tmp_path / "old.duckdb"
    assert load(postgres, db, path, "grids")[0]["status"] in ("success", "success with warnings")
    con = duckdb.connect(str(path))  # as the earlier version wrote it: every array one-dimensional
    con.execute("ALTER TABLE postgres.grids ALTER cells TYPE INTEGER[] USING "
                "CAST(string_split(regexp_replace(cells, '[{}]', '', 'g'), ',') AS INTEGER[])")
    assert con.execute("SELECT cells FROM postgres.grids WHERE id = 1").fetchall() == [([1, 2, 3, 4],)]
    con.close()
    postgres.execute(db, "UPDATE grids SET cells = '{{9}}', changed = now() - interval '2 hours' WHERE id = 2")

    finished, events = load(postgres, db, path, "grids")
    assert finished["status"] == "failed"
    error = next(e for e in events if e["event"] == "error")
    for said in (error["message"] + " " + error["guidance"],
                 " ".join(map(str, duck(path, "SELECT error_message, CAST(cause AS VARCHAR) FROM _purelink.executions "
                                              "WHERE status = 'failed'")[0]))):
        assert "cells" in said and "grids" in said and "flattened" in said and "--full-refresh" in said, said
    # nothing was appended to the flattened column
    assert duck(path, "SELECT cells FROM postgres.grids ORDER BY id") == [([1, 2, 3, 4],), ([5, 6],), (None,), ([7, 8],)]

    finished, _ = load(postgres, db, path, "grids", full_refresh=True)
    assert finished["status"] in ("success", "success with warnings")
    assert duck(path, "SELECT id, cells FROM postgres.grids ORDER BY id") == \
        postgres.query(db, "SELECT id, cells::text FROM grids ORDER BY id")


def test_infinities_inside_lists_are_repaired(tmp_path):
    con = duckdb.connect(str(tmp_path / "lists.duckdb"))
    plus, minus = WRAPPED["day"]
    con.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES (1, [{plus}, DATE '2024-01-01', {minus}]), "
                "(2, [DATE '2020-02-02']), (3, NULL)) v(id, days)")
    assert repair(con, "t", "days", "DATE[]", "DATE[]", "date[]") == \
        ("DATE[] with 1 infinity value(s) as year 5877612 BC", "DATE[]")
    assert con.execute("SELECT id, CAST(days AS VARCHAR) FROM t ORDER BY id").fetchall() == \
        [(1, "[infinity, 2024-01-01, -infinity]"), (2, "[2020-02-02]"), (3, None)]
    assert repair(con, "t", "days", "DATE[]", "DATE[]", "date[]") is None


def test_the_cli_says_which_flattened_column_and_how_to_reload_it(postgres, db, tmp_path, secrets_env):
    postgres.execute(db, *SOURCE)
    env = {**secrets_env, "PYTHONPATH": os.environ.get("PYTHONPATH", secrets_env["PYTHONPATH"])}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, env=env, timeout=300, check=False, stdin=subprocess.DEVNULL)

    made = cli("recipes", "new", "grids", "--source", "postgres", "--streams", "public.grids", "--cursor",
               "public.grids:changed", "--base-url", postgres.url(db), "--executor", "local")
    assert made.returncode == 0, made.stdout + made.stderr
    assert cli("recipes", "run", "grids").returncode == 0
    path = tmp_path / "data" / "purelink.duckdb"
    con = duckdb.connect(str(path))  # as the earlier version wrote it
    con.execute("ALTER TABLE postgres.grids ALTER cells TYPE INTEGER[] USING "
                "CAST(string_split(regexp_replace(cells, '[{}]', '', 'g'), ',') AS INTEGER[])")
    con.close()
    postgres.execute(db, "UPDATE grids SET changed = now() - interval '2 hours' WHERE id = 2")

    failed = cli("recipes", "run", "grids")
    said = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "cells" in said and "grids" in said and "--full-refresh" in said and "Traceback" not in said, said
    assert cli("recipes", "run", "grids", "--full-refresh").returncode == 0
    assert duck(path, "SELECT id, cells FROM postgres.grids ORDER BY id") == \
        postgres.query(db, "SELECT id, cells::text FROM grids ORDER BY id")
