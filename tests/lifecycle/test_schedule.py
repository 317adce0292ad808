"""Scheduling with the real `crontab`: the installed line is run exactly as cron runs it."""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from purelink.lifecycle.schedule import Entry, entries

pytestmark = pytest.mark.skipif(shutil.which("crontab") is None and not os.environ.get("CI"),
                                reason="cron is not installed (scripts/test.sh installs it)")


def purelink(*args: str, cwd: Path, env: dict | None = None, check: bool = True):
    proc = subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600, stdin=subprocess.DEVNULL, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def crontab_text() -> str | None:
    proc = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else None


@pytest.fixture
def kept_crontab():
    """The user's crontab exactly as it was, whatever the test did to it."""
    before = crontab_text()
    yield before
    if before is None:
        subprocess.run(["crontab", "-r"], capture_output=True, check=False)
    else:
        subprocess.run(["crontab", "-"], input=before, text=True, check=True)
    assert crontab_text() == before


def as_cron(entry: Entry, home: Path, cwd: Path) -> subprocess.CompletedProcess:
    """What cron does with a line: /bin/sh -c COMMAND, minimal environment, started from elsewhere."""
    env = ["PATH=/usr/bin:/bin", f"HOME={home}", "SHELL=/bin/sh", f"LOGNAME={getpass.getuser()}"]
    return subprocess.run(["env", "-i", *env, "/bin/sh", "-c", entry.command], cwd=cwd, capture_output=True,
                          text=True, timeout=600, check=False)


def loaded(ws: Path) -> tuple[int, int, int]:
    con = duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True)
    try:
        runs = con.execute("SELECT count(*) FROM _purelink.executions WHERE status = 'success'").fetchone()[0]
        count, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone()
        return runs, count, distinct
    finally:
        con.close()


def test_the_installed_line_runs_under_cron_and_a_second_start_is_skipped(workspace, small_sandbox, tmp_path,
                                                                          kept_crontab):
    key_env = {"SANDBOX_KEY_FOR_VAULT": small_sandbox.api_key}
    purelink("secrets", "set", "stripe_key", "--from-env", "SANDBOX_KEY_FOR_VAULT", cwd=workspace, env=key_env)
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers", "--base-url",
             small_sandbox.stripe_base_url, "--credential", "stripe_key", "--executor", "local", cwd=workspace)
    out = purelink("schedule", "stripe_customers", "--daily", "--at", "03:15", "--workspace", str(workspace),
                   cwd=tmp_path).stdout
    assert "scheduled stripe_customers daily at 03:15" in out

    [entry] = [e for e in entries() if e.workspace == workspace.resolve()]
    installed = crontab_text()
    assert entry.line in installed.splitlines() and entry.line.startswith("15 3 * * * ")
    assert os.path.abspath(sys.executable) in entry.line and f"--workspace {workspace.resolve()}" in entry.line
    assert "flock -n" in entry.line and f">> {workspace.resolve()}/logs/stripe_customers.log" in entry.line
    assert small_sandbox.api_key not in installed  # the key stays in the vault

    home, elsewhere = tmp_path / "cron-home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    log = workspace / "logs" / "stripe_customers.log"

    # A run still going holds the lock: the next start is skipped and says so in the log.
    with open(workspace / "logs" / ".stripe_customers.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        skipped = as_cron(entry, home, elsewhere)
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert skipped.returncode == 0 and skipped.stdout == skipped.stderr == ""
    assert "purelink: stripe_customers skipped" in log.read_text()
    assert not (workspace / "data" / "purelink.duckdb").exists()  # nothing ran

    done = as_cron(entry, home, elsewhere)
    assert done.returncode == 0, log.read_text()[-3000:]
    assert loaded(workspace) == (1, 150, 150)  # 150 = the small sandbox's customers
    assert "success" in log.read_text()

    listed = json.loads(purelink("schedule", "list", "--format", "json", cwd=tmp_path).stdout)
    assert {"name": "stripe_customers", "workspace": str(workspace.resolve()), "every": "daily",
            "at": "03:15", "line": entry.line} in listed
    purelink("schedule", "remove", "stripe_customers", "--workspace", str(workspace), cwd=tmp_path)
    assert [e for e in entries() if e.workspace == workspace.resolve()] == []
    assert (crontab_text() or "") == (kept_crontab or "")  # removing left every other line as it was


def test_hourly_replaces_the_entry_and_other_lines_are_kept(workspace, small_sandbox, tmp_path, kept_crontab):
    subprocess.run(["crontab", "-"], input=(kept_crontab or "") + "# a line of the user's own\n", text=True,
                   check=True)
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers", "--base-url",
             small_sandbox.stripe_base_url, cwd=workspace)
    purelink("schedule", "stripe_customers", "--daily", cwd=workspace)
    purelink("schedule", "stripe_customers", "--hourly", "--at", "00:40", cwd=workspace)
    mine = [e for e in entries() if e.workspace == workspace.resolve()]
    assert [(e.every, e.at) for e in mine] == [("hourly", ":40")] and mine[0].line.startswith("40 * * * * ")
    assert "# a line of the user's own" in crontab_text().splitlines()


@pytest.mark.parametrize(("args", "says"), [
    (["stripe_customers"], "How often should stripe_customers run?"),
    (["stripe_customers", "--daily", "--at", "25:00"], "is not a time of day"),
    (["nothing_here", "--daily"], "No recipe named 'nothing_here'"),
    (["remove", "stripe_customers"], "No scheduled run of stripe_customers"),
])
def test_mistakes_get_one_paragraph_and_no_crontab_change(workspace, small_sandbox, args, says, kept_crontab):
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers", "--base-url",
             small_sandbox.stripe_base_url, cwd=workspace)
    proc = purelink("schedule", *args, cwd=workspace, check=False)
    assert proc.returncode == 1 and says in proc.stderr and "Traceback" not in proc.stderr
    assert crontab_text() == kept_crontab
