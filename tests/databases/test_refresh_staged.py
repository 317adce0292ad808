"""A `--full-refresh` of a database table read by its cursor is staged and swapped like a whole-table
reload: stopped half way, the table keeps every old row (value by value) and its saved cursor, so
the next incremental run goes on as if the refresh had not begun; finished, the table equals the
source and the cursor is saved at the swap, so the run after it reads only what changed."""

from __future__ import annotations

import io
import json
import threading

import duckdb
import pytest

from purelink.runtime import PostgresSource, Table, sql_run
from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination
from purelink.runtime.destinations.postgres import PostgresDestination
from purelink.runtime.events import EventWriter

ROWS = 60_000  # with 1 MB batches, several batches: a stop lands between two of them


class StopAfterFirstPage(io.StringIO):
    """The events of a run, as a monitor reads them; sets `stop` once the first batch was staged,
    as the user pressing Stop would."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop

    def write(self, text: str) -> int:
        if json.loads(text)["event"] == "page":
            self.stop.set()
        return super().write(text)


def run(postgres, db, destination, *, full_refresh=False, stop_early=False) -> tuple[dict, list[dict]]:
    stop = threading.Event()
    out = StopAfterFirstPage(stop) if stop_early else io.StringIO()
    finished = sql_run(PostgresSource(url=postgres.url(db), batch_mb=1), [Table("t")], pipeline="p",
                       destination=destination(), events=EventWriter("t", out), stop=stop, full_refresh=full_refresh)
    return finished, [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture(params=["duckdb", "warehouse"])
def store(request, postgres, tmp_path):
    if request.param == "duckdb":
        path = tmp_path / "w.duckdb"

        def query(sql):
            with duckdb.connect(str(path), read_only=True) as con:
                return con.execute(sql).fetchall()
        return (lambda: DuckDBArrowDestination(path)), query, "postgres"
    warehouse = postgres.create_database("wh")
    return ((lambda: PostgresDestination(postgres.url(warehouse), password="PGPASSWORD")),
            (lambda sql: postgres.query(warehouse, sql)), "raw")  # the warehouse's tables go to its `raw` schema


def test_a_stopped_refresh_keeps_the_old_rows_and_cursor_and_a_finished_one_saves_its_cursor(postgres, db, store,
                                                                                          secrets_env):
    destination, query, schema = store
    postgres.execute(db, "CREATE TABLE t (id int PRIMARY KEY, v text, pad text, updated_at timestamptz NOT NULL)",
                     f"INSERT INTO t SELECT g, 'v' || g, repeat('x', 60), timestamptz '2024-01-01' + g * interval "
                     f"'1 second' FROM generate_series(1, {ROWS}) g")

    def source() -> dict:
        return {i: v for i, v in postgres.query(db, "SELECT id, v FROM t")}

    def landed() -> dict:
        rows = query(f"SELECT id, v FROM {schema}.t")
        assert len(rows) == len({r[0] for r in rows})  # never a doubled key
        return dict(rows)

    def cursor() -> str:
        return query("SELECT value FROM _purelink.state WHERE stream = 't' AND key = 'cursor'")[0][0]

    finished, events = run(postgres, db, destination)
    assert finished["status"] == "success", [e for e in events if e["event"] in ("error", "warning")]
    assert landed() == source()
    before, saved = landed(), cursor()

    # the source changes; a refresh starts and is stopped after its first batch
    postgres.execute(db, "UPDATE t SET v = 'changed', updated_at = timestamptz '2030-01-01' WHERE id % 1000 = 0")
    finished, events = run(postgres, db, destination, full_refresh=True, stop_early=True)
    assert finished["status"] == "stopped", [e for e in events if e["event"] == "page"]
    assert landed() == before and cursor() == saved  # every old row and the old cursor, untouched
    said = [e["message"] for e in events if e["event"] == "warning"]
    assert any("the reload of t did not finish: its table keeps its old rows" in m for m in said), said

    # the next incremental run continues from the old cursor: it reads only the changed rows
    finished, _ = run(postgres, db, destination)
    assert finished["status"] == "success" and finished["streams"]["t"]["records"] == ROWS // 1000
    assert landed() == source()

    # a finished refresh equals the source and saves its cursor at the swap
    postgres.execute(db, "DELETE FROM t WHERE id <= 10")
    finished, _ = run(postgres, db, destination, full_refresh=True)
    assert finished["status"] == "success" and finished["streams"]["t"]["records"] == ROWS - 10
    assert landed() == source()  # the deleted rows are gone: a refresh is the source as it is now
    assert "2030-01-01" in cursor()
    postgres.execute(db, "UPDATE t SET v = 'after', updated_at = timestamptz '2031-01-01' WHERE id = 11")
    finished, _ = run(postgres, db, destination)
    assert finished["streams"]["t"]["records"] == 1 and landed() == source()
