"""`_purelink.executions.executor` says what started a run, as `purelink recipes run` starts it with
each runner here (local, Docker); `recipes history` shows it. Cron and Airflow are checked in
test_schedule.py and test_deploy.py, where those really start the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import pytest

from purelink.sandbox import serve
from tests.execution.conftest import base_image, docker_engine, runtime_image  # noqa: F401 - fixtures
from tests.lifecycle.test_history import purelink


@pytest.fixture(scope="module")
def api():
    with serve(host="0.0.0.0", seed=0, customers=120) as s:  # 0.0.0.0: containers reach it too
        yield s


def landed(ws) -> tuple[list[tuple], int]:
    con = duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True)
    try:
        runs = con.execute("SELECT status, records, executor FROM _purelink.executions ORDER BY started_at").fetchall()
        return runs, con.execute("SELECT count(DISTINCT id) FROM stripe.customers").fetchone()[0]
    finally:
        con.close()


def run_with(ws, api, executor: str, env: dict | None = None) -> None:
    purelink("recipes", "run", "stripe_customers", "--executor", executor, cwd=ws,
             env={"STRIPE_API_KEY": api.api_key, **(env or {})})


def test_a_local_run_says_local_and_history_shows_it(workspace, api, monkeypatch):
    monkeypatch.delenv("PURELINK_EXECUTOR", raising=False)
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers", "--base-url",
             api.stripe_base_url, "--executor", "local", cwd=workspace)
    run_with(workspace, api, "local")
    assert landed(workspace) == ([("success", 120, "local")], 120)

    purelink("recipes", "run", "stripe_customers", "--full-refresh", "--executor", "local", cwd=workspace,
             env={"STRIPE_API_KEY": api.api_key})
    assert landed(workspace) == ([("success", 120, "local")] * 2, 120)

    story = json.loads(purelink("recipes", "history", "stripe_customers", "--format", "json", cwd=workspace).stdout)
    runs = [r for v in story["versions"] for r in v["runs"]]
    assert [(r["executor"], r["mode"], r["kind"]) for r in runs] == [("local", "incremental", "incremental"),
                                                                    ("local", "full_refresh", "full refresh")]
    shown = purelink("recipes", "history", "stripe_customers", cwd=workspace).stdout
    lines = [line for line in shown.splitlines() if line.strip().startswith("run ")]
    assert len(lines) == 2 and all("120 records" in line and "by local" in line for line in lines), shown
    assert "incremental" in lines[0] and "full refresh" in lines[1], shown


def test_a_run_that_fails_on_a_setting_is_in_the_history_with_its_cause(workspace, api, monkeypatch):
    """A bad PURELINK_DUCKDB_MEMORY_LIMIT fails the run as its database opens; the file itself is
    fine, so the failure gets its executions row (the history shows it), and nothing loaded is lost."""
    monkeypatch.delenv("PURELINK_EXECUTOR", raising=False)
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers", "--base-url",
             api.stripe_base_url, "--executor", "local", cwd=workspace)
    run_with(workspace, api, "local")
    bad = subprocess.run([sys.executable, "-m", "purelink.cli", "recipes", "run", "stripe_customers", "--full-refresh"],
                         check=False, cwd=workspace, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
                         env={**os.environ, "STRIPE_API_KEY": api.api_key, "PURELINK_DUCKDB_MEMORY_LIMIT": "lots"})
    assert bad.returncode == 1 and "not 'lots'" in bad.stdout + bad.stderr, bad.stdout + bad.stderr
    assert landed(workspace) == ([("success", 120, "local"), ("failed", 0, "local")], 120)
    story = json.loads(purelink("recipes", "history", "stripe_customers", "--format", "json", cwd=workspace).stdout)
    failed = [r for v in story["versions"] for r in v["runs"]][-1]
    assert failed["status"] == "failed" and failed["kind"] == "full refresh" and "not 'lots'" in failed["error_message"]
    run_with(workspace, api, "local")  # with the setting mended, the next run goes on as usual
    assert landed(workspace)[1] == 120


@pytest.mark.slow
def test_a_docker_run_says_docker(workspace, api, base_image, runtime_image, monkeypatch):  # noqa: F811
    monkeypatch.delenv("PURELINK_EXECUTOR", raising=False)
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers", "--base-url",
             api.stripe_base_url, "--executor", "docker", cwd=workspace)
    run_with(workspace, api, "docker", {"PURELINK_BASE_IMAGE": base_image})
    assert landed(workspace) == ([("success", 120, "docker")], 120)
    shown = purelink("inspect", "--query", "SELECT executor, records FROM executions", "--format", "json",
                     cwd=workspace).stdout
    assert json.loads(shown) == [{"executor": "docker", "records": 120}]


def test_history_reads_a_file_from_before_the_executor_column(workspace, api, monkeypatch):
    """`recipes history` opens the file read-only, so an older file is not upgraded there: its runs
    show no executor, and the next run adds the column with the old row intact."""
    monkeypatch.delenv("PURELINK_EXECUTOR", raising=False)
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers", "--base-url",
             api.stripe_base_url, "--executor", "local", cwd=workspace)
    run_with(workspace, api, "local")
    con = duckdb.connect(str(workspace / "data" / "purelink.duckdb"))
    con.execute("ALTER TABLE _purelink.executions DROP COLUMN executor")  # as an older version left it
    con.close()

    story = json.loads(purelink("recipes", "history", "stripe_customers", "--format", "json", cwd=workspace).stdout)
    [old] = [r for v in story["versions"] for r in v["runs"]]
    assert (old["status"], old["records"], old["executor"]) == ("success", 120, None)

    run_with(workspace, api, "local")
    runs, customers = landed(workspace)
    assert runs[0] == ("success", 120, None) and (runs[1][0], runs[1][2]) == ("success", "local")
    assert len(runs) == 2 and customers == 120
