"""SIGKILL a database pipeline mid-run, run it again: no duplicates, no gaps, in DuckDB and in the warehouse."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

ROWS = 120_000
MODULE = '''
from purelink.runtime import PostgresDestination, PostgresSource, Table, sql_main

source = PostgresSource(url={url!r}, batch_mb=1)
streams = [
    Table("events", cursor="updated_at"),
    Table("snapshot"),
]
warehouse = {warehouse}

if __name__ == "__main__":
    sql_main(source, streams, pipeline="crashy", warehouse=warehouse)
'''
# updated_at repeats (seven rows per second), so batch boundaries fall inside runs of equal cursors.
SETUP = [
    f"""CREATE TABLE events AS SELECT g AS id, md5(g::text) || repeat('x', 150) AS payload,
        timestamptz '2024-01-01' + (g / 7) * interval '1 second' AS updated_at FROM generate_series(1, {ROWS}) g""",
    "ALTER TABLE events ADD PRIMARY KEY (id)",
    f"CREATE TABLE snapshot AS SELECT g AS id, repeat('y', 200) AS payload FROM generate_series(1, {ROWS}) g",
    "ALTER TABLE snapshot ADD PRIMARY KEY (id)",
]
DIGEST = "SELECT count(*), count(DISTINCT id), sum(id), md5(string_agg(payload, ',' ORDER BY id)) FROM {table}"


def kill_after_pages(module, env, pages: int, db: str) -> bool:
    """Start the pipeline, SIGKILL it once `pages` batches were read; True if it was killed mid-run."""
    proc = subprocess.Popen([sys.executable, str(module), "--db", db], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env, stdin=subprocess.DEVNULL)
    seen = 0
    for line in proc.stdout:
        if line.startswith("{") and json.loads(line).get("event") == "page":
            seen += 1
            if seen >= pages:
                proc.kill()
                break
    proc.wait()
    proc.stdout.close()
    return proc.returncode == -9


@pytest.mark.slow
@pytest.mark.parametrize("target", ["duckdb", "warehouse"])
def test_sigkill_then_rerun_has_no_duplicates_and_no_gaps(target, postgres, db, tmp_path, secrets_env, run_module):
    postgres.execute(db, *SETUP)
    warehouse_db = postgres.create_database("wh") if target == "warehouse" else None
    warehouse = f"PostgresDestination({postgres.url(warehouse_db)!r})" if warehouse_db else "None"
    module = tmp_path / "crashy.py"
    module.write_text(MODULE.format(url=postgres.url(db), warehouse=warehouse))
    duck = str(tmp_path / "crashy.duckdb")

    def digest(table: str):
        """(rows, distinct ids, sum of ids, md5 of the payloads); zeros while the table does not exist."""
        if warehouse_db:
            found = postgres.query(warehouse_db, f"SELECT to_regclass('raw.{table}') IS NOT NULL")[0][0]
            return postgres.query(warehouse_db, DIGEST.format(table=f"raw.{table}"))[0] if found else (0, 0)
        con = duckdb.connect(duck, read_only=True)
        try:
            return con.execute(DIGEST.format(table=f"postgres.{table}")).fetchone()
        except duckdb.CatalogException:
            return (0, 0)
        finally:
            con.close()

    assert kill_after_pages(module, secrets_env, 3, duck), "the run finished before it could be killed"
    partial = digest("events")
    assert partial[0] == partial[1] and 0 < partial[0] < ROWS  # whole, distinct rows; the rest to come
    kills = 1 + sum(kill_after_pages(module, secrets_env, pages, duck) for pages in (2, 6, 12, 30, 45))
    assert kills >= 4, "the runs finished before they could be killed"
    # kills inside the snapshot's single transaction leave it whole or empty, never partial
    assert digest("snapshot")[0] in (0, ROWS)

    done = run_module(module, "--db", duck)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    want = tuple(postgres.query(db, DIGEST.format(table="events"))[0])
    assert tuple(digest("events")) == want  # every row exactly once, values equal
    want_snapshot = tuple(postgres.query(db, DIGEST.format(table="snapshot"))[0])
    assert tuple(digest("snapshot")) == want_snapshot
    assert want[0] == want[1] == ROWS

    # The next run moves nothing: the committed cursor accounts for every row.
    again = run_module(module, "--db", duck)
    finished = [json.loads(x) for x in again.stdout.splitlines() if '"finished"' in x][-1]
    assert finished["streams"]["events"]["records"] == 0
    assert finished["streams"]["snapshot"]["records"] == ROWS  # no cursor: reloaded whole, atomically
    assert tuple(digest("snapshot")) == want_snapshot
