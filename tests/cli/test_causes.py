"""Every failure carries its cause and what to do, everywhere a user looks: the CLI's output
(once), the event log in logs/, and the run's row in `_purelink.executions`; a partial run says
what it committed. One test per failure class, each with a real component failing for real."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from purelink.assistant import OfflineAssistant
from purelink.engine import Engine
from tests.conftest import SCRIPT

CLI = [sys.executable, "-m", "purelink.cli"]
EXPLAINED = {"api_unreachable": "connectivity", "source_database": "connectivity", "destination": "storage"}


def new_recipe(ws: Path, *args: str) -> None:
    subprocess.run([*CLI, "recipes", "new", *args, "--executor", "local"], cwd=ws, check=True,
                   capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)


def start_run(ws: Path, name: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "recipes", "run", name, "--executor", "local"], cwd=ws,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)


def log_events(ws: Path) -> list[dict]:
    events = []
    for path in sorted((ws / "logs").glob("execution_*.log")):
        events += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return events


def wait_for_event(ws: Path, proc: subprocess.Popen, kind: str, deadline_s: float = 240) -> None:
    """Wait until the run's log holds an event of this kind (a committed page, say)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if any(e["event"] == kind for e in log_events(ws)):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    pytest.fail(f"no {kind} event in the log")


def executions_row(db: Path) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute("SELECT * FROM _purelink.executions ORDER BY started_at DESC LIMIT 1")
        names = [d[0] for d in cur.description]
        row = dict(zip(names, cur.fetchone(), strict=True))
    finally:
        con.close()
    row["cause"] = json.loads(row["cause"]) if row["cause"] else None
    return row


def count(db: Path, sql: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def assert_told_everywhere(ws: Path, output: str, kind: str, *needles: str) -> dict:
    """The cause in the CLI output once, in the log's finished event, and in the executions row."""
    assert "Traceback" not in output, output
    assert output.count("cause:") == 1 and "status:      failed" in output, output
    assert "what to do:" in output and "A re-run resumes" in output, output
    for needle in needles:
        assert needle in output, (needle, output)
    finished = [e for e in log_events(ws) if e["event"] == "finished"][-1]
    assert finished["status"] == "failed" and finished["cause"]["kind"] == kind, finished
    assert finished["cause"]["guidance"], finished
    row = executions_row(ws / "data" / "purelink.duckdb")
    assert row["status"] == "failed" and row["cause"]["kind"] == kind, row
    assert row["error_message"] == finished["cause"]["message"]
    # the assistant's offline explainer reads the structured cause
    name = finished["pipeline"] if "pipeline" in finished else Engine(ws).recipes.names()[0]
    explained = OfflineAssistant().explain_failure(Engine(ws).recipe(name), finished)
    assert explained.cause == EXPLAINED[kind], explained
    return row


def test_an_api_that_goes_down_mid_run_is_told_once_with_url_and_what_was_committed(tmp_path, sandbox_factory):
    api = sandbox_factory(customers=4000, latency_ms=40)
    ws = tmp_path / "ws"
    ws.mkdir()
    new_recipe(ws, "custs", "--source", "stripe", "--streams", "customers", "--base-url", api.stripe_base_url)
    proc = start_run(ws, "custs", {"STRIPE_API_KEY": api.api_key})
    wait_for_event(ws, proc, "page")
    api.stop()
    out, err = proc.communicate(timeout=600)
    output = out + err
    assert proc.returncode == 1, output
    row = assert_told_everywhere(ws, output, "api_unreachable", api.stripe_base_url, "records before it failed")
    # Told once: refused ("Cannot connect") or cut off mid-answer ("stopped answering"), by the server's
    # address; the request's URL, query and all, is on its own line.
    assert output.count("stopped answering") + output.count("Cannot connect to the API at") == 1, output
    assert f"the API at {api.url}" in output and re.search(r"^url: +http://\S+\?", output, re.MULTILINE), output
    landed = count(ws / "data" / "purelink.duckdb", "SELECT count(DISTINCT id) FROM stripe.customers")
    assert 0 < landed < 4000
    assert row["records"] == landed == count(ws / "data" / "purelink.duckdb", "SELECT count(*) FROM stripe.customers")
    assert f"{landed:,} records" in output
    # While it retried, a heartbeat said at once why nothing came (the monitors show it in their status
    # line: RUNNING and 0.0 req/s, nothing else, before). The retries can all end within 2 s, the
    # heartbeat's interval (4.8 s for the whole run in a loaded CI rehearsal): the words do not wait for it.
    waits = [e["waiting"] for e in log_events(ws) if e["event"] == "heartbeat" and e.get("waiting")]
    assert waits and all(w.startswith((f"cannot connect to {api.url} ", f"no answer from {api.url} ")) for w in waits)
    assert all(re.search(r": attempt \d+ of \d+, retrying in ", w) for w in waits), waits


def test_a_duckdb_error_is_told_with_its_cause(tmp_path, small_sandbox):
    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    con = duckdb.connect(str(ws / "data" / "purelink.duckdb"))
    # A table replaced by hand with a view of other columns: DuckDB's binder refuses the load.
    con.execute("CREATE SCHEMA stripe; CREATE VIEW stripe.customers AS SELECT 1 AS other")
    con.close()
    new_recipe(ws, "custs", "--source", "stripe", "--streams", "customers", "--base-url",
               small_sandbox.stripe_base_url)
    proc = start_run(ws, "custs", {"STRIPE_API_KEY": small_sandbox.api_key})
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, out + err
    row = assert_told_everywhere(ws, out + err, "destination", "DuckDB refused a statement")
    assert row["records"] == 0


@pytest.fixture
def doomed_postgres(require_postgres):
    """A PostgreSQL server of this test alone, which the test stops mid-run."""
    out = subprocess.run(["bash", str(SCRIPT), "start"], check=True, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=120)
    env = {k: v.strip("'") for k, v in (line.removeprefix("export ").split("=", 1)
                                         for line in out.stdout.splitlines() if line.startswith("export "))}
    yield env
    subprocess.run(["bash", str(SCRIPT), "stop", env["PURELINK_PG_DIR"]], check=False, capture_output=True,
                   timeout=120)


def test_a_source_server_stopped_mid_run_is_told_with_its_cause(tmp_path, doomed_postgres):
    from adbc_driver_postgresql import dbapi

    from purelink.runtime.pg import connection_uri

    pg = doomed_postgres
    url = f"postgresql://{pg['PGUSER']}@{pg['PGHOST']}:{pg['PGPORT']}/postgres"
    con = dbapi.connect(connection_uri(url, pg["PGPASSWORD"]))
    cur = con.cursor()
    # Two tables: the first loads and commits, the server stops while the second is read.
    cur.execute("CREATE TABLE first_t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g")
    cur.execute("ALTER TABLE first_t ADD PRIMARY KEY (id)")
    cur.execute("CREATE TABLE second_t AS SELECT g AS id, repeat(md5(g::text), 8) AS v "
                "FROM generate_series(1, 3000000) g")
    cur.execute("ALTER TABLE second_t ADD PRIMARY KEY (id)")
    con.commit()
    con.close()
    ws = tmp_path / "ws"
    ws.mkdir()
    new_recipe(ws, "plant", "--source", "postgres", "--streams", "first_t,second_t", "--base-url", url)
    proc = start_run(ws, "plant", {"PGPASSWORD": pg["PGPASSWORD"]})
    end = time.monotonic() + 240
    while not any(e["event"] == "page" and e.get("stream") == "second_t" for e in log_events(ws)):
        assert proc.poll() is None and time.monotonic() < end, proc.communicate()
        time.sleep(0.05)
    subprocess.run(["bash", str(SCRIPT), "stop", pg["PURELINK_PG_DIR"]], check=True, capture_output=True,
                   timeout=120)
    out, err = proc.communicate(timeout=300)
    output = out + err
    assert proc.returncode == 1, output
    row = assert_told_everywhere(ws, output, "source_database", f"{pg['PGHOST']}:{pg['PGPORT']}/postgres",
                                 "records before it failed")
    landed = count(ws / "data" / "purelink.duckdb", "SELECT count(DISTINCT id) FROM postgres.first_t")
    assert landed == 5000 and row["records"] >= 5000
