"""A run killed with SIGKILL at any moment, then re-run, gives the same table as a clean run."""

from __future__ import annotations

import random
import signal
import time

import pytest

COLUMNS = "id, email, name, balance, created, address, metadata"

CUSTOMERS = 10_000


@pytest.mark.slow
def test_repeated_sigkill_then_clean_run_equals_uninterrupted_run(tmp_path, sandbox_factory, pipeline):
    # Slow and long enough (latency, a client rate limit, 100 pages) that every kill lands mid-run:
    # each run takes a second of requests at once (Stripe's burst), some 1,200 records, so with
    # the sandbox's usual 3,421 the fifth killed run could find the sync finished.
    api = sandbox_factory(latency_ms=15, customers=CUSTOMERS)
    reference = pipeline(api, rate_limit=10)
    reference.workspace = tmp_path  # same layout; separate db below
    reference.db = tmp_path / "reference.duckdb"
    reference.run("--db", str(reference.db))
    expected = reference.query(f"SELECT {COLUMNS} FROM stripe.customers ORDER BY id")
    assert len(expected) == CUSTOMERS

    crashed_db = tmp_path / "crashed.duckdb"
    rng = random.Random(7)
    kills = 0
    for _ in range(6):
        proc = reference.popen("--db", str(crashed_db))
        # Kill at a random instant after a random number of committed pages: between commits,
        # during one, or while pages are in flight.
        pages, target = 0, rng.randint(1, 3)
        for line in proc.stdout:
            if '"event":"page"' in line:
                pages += 1
                if pages == target:
                    time.sleep(rng.uniform(0, 0.15))
                    break
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        proc.stdout.close()
    assert kills >= 5, "the runs finished before they could be killed; slow the sandbox down"

    reference.db = crashed_db
    reference.run("--db", str(crashed_db))
    actual = reference.query(f"SELECT {COLUMNS} FROM stripe.customers ORDER BY id")
    assert actual == expected
    total, distinct = reference.query("SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0]
    assert total == distinct == CUSTOMERS
    statuses = dict(reference.query("SELECT status, count(*) FROM _purelink.executions GROUP BY status"))
    assert statuses.get("success", 0) >= 1
    # killed runs are marked interrupted, never left "running" (a kill during interpreter
    # start-up happens before the run has a row at all)
    assert statuses.get("interrupted", 0) >= 1
    assert "running" not in statuses
    # Nothing is left half-synced: the state holds only the cursor, the table's generation, its name and
    # the history start its rows were read from.
    keys = reference.query("SELECT key FROM _purelink.state ORDER BY key")
    assert keys == [("cursor",), ("generation",), ("start",), ("table",)]


def test_killed_first_page_leaves_no_partial_rows(tmp_path, sandbox_factory, pipeline):
    """Rows are never visible without the state that accounts for them."""
    api = sandbox_factory(latency_ms=200)
    p = pipeline(api)
    proc = p.popen()
    time.sleep(1.0)  # started, opened the db, first pages in flight
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    if p.db.exists():
        rows = p.query("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'stripe'")[0][0]
        if rows:
            loaded = p.query("SELECT count(*) FROM stripe.customers")[0][0]
            windows = p.query("SELECT count(*) FROM _purelink.state WHERE key LIKE 'window:%'")[0][0]
            assert loaded == 0 or windows > 0
    p.run()
    assert p.query("SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0] == (3421, 3421)


CREATE = """
import sys
from purelink.runtime.destinations.duckdb_connection import connect
print("ready", flush=True)
connect(sys.argv[1]).close()
print("done", flush=True)
"""


def test_a_kill_while_the_database_file_is_created_leaves_none_or_a_whole_one(tmp_path):
    """A run killed in the instant DuckDB created its file left one no later run could open."""
    import subprocess
    import sys

    import duckdb

    rng = random.Random(7)
    for attempt in range(30):
        db = tmp_path / f"k{attempt}" / "purelink.duckdb"
        proc = subprocess.Popen([sys.executable, "-c", CREATE, str(db)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0, 0.05))  # a random moment of the creation (it takes some 10-40 ms)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if db.exists():
            duckdb.connect(str(db), read_only=True).close()  # whole: it opens
        from purelink.runtime.destinations.duckdb_connection import connect

        con = connect(db)  # and the next run opens it, or makes it
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        con.close()
        assert [p.name for p in db.parent.iterdir()] == ["purelink.duckdb"]


def test_a_database_file_cut_short_is_replaced_and_anything_else_left_alone(tmp_path, sandbox_factory, pipeline):
    import duckdb

    from purelink.runtime.destinations.duckdb_connection import connect

    whole = tmp_path / "whole.duckdb"
    duckdb.connect(str(whole)).close()
    header = whole.read_bytes()
    for cut in (b"", header[:10], header[:4096], header[:-1], bytes(5000)):
        db = tmp_path / f"cut{len(cut)}.duckdb"
        db.write_bytes(cut)
        con = connect(db)
        assert con.execute("SELECT 42").fetchall() == [(42,)]
        con.close()
    other = tmp_path / "notes.duckdb"
    other.write_bytes(b"my notes, not a database")
    with pytest.raises(duckdb.IOException, match="not a valid DuckDB database"):
        connect(other)
    assert other.read_bytes() == b"my notes, not a database"

    p = pipeline(sandbox_factory())  # a whole run into a file an earlier run left cut short
    p.db.parent.mkdir(parents=True, exist_ok=True)
    p.db.write_bytes(header[:100])
    p.run()
    assert p.query("SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0] == (3421, 3421)
