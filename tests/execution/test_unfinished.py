"""A pipeline process that dies without its summary: the user still reads what it committed and why
it ended, its executions row is closed at once, and the next run completes the load exactly."""

from __future__ import annotations

import os
import signal

from purelink.execution.unfinished import how_it_ended
from tests.conftest import customers_recipe, duckdb_rows

COLUMNS = "id, email, name, balance, created"


def test_a_pipeline_killed_mid_run_reports_its_committed_rows_and_cause(tmp_path, sandbox_factory):
    api = sandbox_factory(customers=2400, latency_ms=20)
    engine, recipe = customers_recipe(tmp_path, api, "custs", rate_limit=4)
    secrets = {"STRIPE_API_KEY": api.api_key}
    reference = tmp_path / "reference.duckdb"
    assert engine.execute(recipe, executor="local", db_path=reference, secrets=secrets).ok
    db = tmp_path / "data" / "purelink.duckdb"

    run = engine.start(recipe, executor="local", secrets=secrets)
    pages = []

    def on_event(event):
        if event["event"] == "page":
            pages.append(event)
            if len(pages) == 3:  # mid-run: pages committed, more to come
                os.kill(run.handle._proc.pid, signal.SIGKILL)

    result = run.collect(on_event=on_event)
    done = result.finished
    assert done is not None and done["rebuilt_by_host"] and done["status"] == "failed"
    assert "killed by SIGKILL" in done["error"] and "out-of-memory" in done["error"]
    assert done["cause"]["guidance"].startswith("Every row committed before the end is kept")
    landed, distinct = duckdb_rows(db, "SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0]
    # 24 pages at 4 requests/s: the kill after the 3rd lands mid-run even when events reach us late
    assert landed == distinct and 0 < done["committed"] <= landed < 2400
    assert done["streams"]["customers"]["committed"] == done["committed"]
    assert done["outcome"] == "interrupted" and done["storage_bytes"] == db.stat().st_size
    # what landed is exactly the source's rows, value by value
    partial = duckdb_rows(db, f"SELECT {COLUMNS} FROM stripe.customers ORDER BY id")
    ids = {r[0] for r in partial}
    assert partial == [r for r in duckdb_rows(reference, f"SELECT {COLUMNS} FROM stripe.customers ORDER BY id")
                       if r[0] in ids]
    status, error, records = duckdb_rows(db, "SELECT status, error_message, records FROM _purelink.executions "
                                      f"WHERE run_id = '{done['run_id']}'")[0]
    assert status == "interrupted" and "killed by SIGKILL" in error and records == done["committed"]

    again = engine.execute(recipe, executor="local", secrets=secrets)
    assert again.ok, again.finished
    assert duckdb_rows(db, f"SELECT {COLUMNS} FROM stripe.customers ORDER BY id") == duckdb_rows(
        reference, f"SELECT {COLUMNS} FROM stripe.customers ORDER BY id")
    assert duckdb_rows(db, "SELECT count(*) FROM _purelink.executions WHERE status = 'running'") == [(0,)]


def test_exit_codes_read_as_words():
    assert how_it_ended(-9).startswith("killed by SIGKILL")
    assert how_it_ended(137).startswith("killed by SIGKILL")  # a container's 128 + 9
    assert how_it_ended(-15) == "killed by SIGTERM"
    assert how_it_ended(3) == "exited with code 3 without finishing"
