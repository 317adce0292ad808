"""Scheduling with the real `crontab`: the installed line is run exactly as cron runs it."""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import httpx
import pytest

from purelink.lifecycle.schedule import Entry, entries

# The user's crontab is one per machine: under pytest-xdist these tests run one after another in
# one worker (--dist loadgroup), or one would install its line over another's.
pytestmark = [pytest.mark.skipif(shutil.which("crontab") is None and not os.environ.get("CI"),
                                 reason="cron is not installed (scripts/test.sh installs it)"),
              pytest.mark.xdist_group("crontab")]


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
    """The user's crontab exactly as it was, whatever the test did to it. Held under a lock for
    the whole test: other test sessions on this machine (other checkouts, other users' runs of
    this suite as the same user) use the same crontab, and xdist_group only orders this session."""
    with open(f"/tmp/purelink-crontab-{os.getuid()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = crontab_text()
        yield before
        if before is None:
            subprocess.run(["crontab", "-r"], capture_output=True, check=False)
        else:
            subprocess.run(["crontab", "-"], input=before, text=True, check=True)
        assert crontab_text() == before


def cron_argv(entry: Entry, home: Path) -> list[str]:
    """What cron does with a line: /bin/sh -c COMMAND in a minimal environment."""
    env = ["PATH=/usr/bin:/bin", f"HOME={home}", "SHELL=/bin/sh", f"LOGNAME={getpass.getuser()}"]
    return ["env", "-i", *env, "/bin/sh", "-c", entry.command]


def as_cron(entry: Entry, home: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cron_argv(entry, home), cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


class HeldProxy:
    """Forwards to the sandbox, but holds every request until `release` is set; `arrived` tells
    that a run is inside its first request (and so holds the schedule's lock)."""

    def __init__(self, sandbox, host: str = "127.0.0.1") -> None:
        self.arrived, self.release = threading.Event(), threading.Event()
        upstream = sandbox.stripe_base_url.rsplit("/v1", 1)[0]
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                proxy.arrived.set()
                proxy.release.wait(600)
                answer = httpx.get(upstream + self.path, headers={"Authorization": self.headers["Authorization"]})
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)  # 0.0.0.0: containers reach it too
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(small_sandbox):
    held = HeldProxy(small_sandbox)
    yield held
    held.close()


def test_the_installed_line_runs_under_cron_and_a_second_start_is_skipped(workspace, small_sandbox, proxy, tmp_path,
                                                                          kept_crontab):
    key_env = {"SANDBOX_KEY_FOR_VAULT": small_sandbox.api_key}
    purelink("secrets", "set", "stripe_key", "--from-env", "SANDBOX_KEY_FOR_VAULT", cwd=workspace, env=key_env)
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers", "--base-url",
             proxy.url, "--credential", "stripe_key", "--executor", "local", cwd=workspace)
    out = purelink("schedule", "stripe_customers", "--daily", "--at", "03:15", "--workspace", str(workspace),
                   cwd=tmp_path).stdout
    assert "scheduled stripe_customers daily at 03:15" in out and "not in the vault" not in out

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

    # The first start is held inside its first API request; meanwhile the next start must be skipped.
    first = subprocess.Popen(cron_argv(entry, home), cwd=elsewhere, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert proxy.arrived.wait(600), "the first scheduled run never reached the API"
        second = as_cron(entry, home, elsewhere)
        assert second.returncode == 0 and second.stdout == second.stderr == ""
        assert "purelink: stripe_customers skipped" in log.read_text()
    finally:
        proxy.release.set()
        assert first.wait(600) == 0, log.read_text()[-3000:]
    # One run loaded the sandbox's 150 customers once; the skipped start left no run behind.
    con = duckdb.connect(str(workspace / "data" / "purelink.duckdb"), read_only=True)
    try:
        runs = con.execute("SELECT status, records, executor FROM _purelink.executions").fetchall()
        count, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone()
    finally:
        con.close()
    assert runs == [("success", 150, "cron")] and count == distinct == 150
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
    out = purelink("schedule", "stripe_customers", "--daily", cwd=workspace).stdout
    # The key would come from STRIPE_API_KEY, which cron does not pass on: the user is told so.
    assert "the key STRIPE_API_KEY is not in the vault" in out and "--from-env STRIPE_API_KEY" in out
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


def test_without_a_flag_the_recipes_own_frequency_is_used(workspace, tmp_path, kept_crontab):
    from purelink.recipes import Recipe, RecipeStore, Requirements, SourceChoice, StreamChoice
    from purelink.workspace import Workspace

    RecipeStore(Workspace.at(workspace)).save(Recipe(
        name="stripe_customers", source=SourceChoice(name="stripe"), streams=[StreamChoice(name="customers")],
        requirements=Requirements(frequency="hourly")))
    out = purelink("schedule", "stripe_customers", "--workspace", str(workspace), cwd=tmp_path).stdout
    assert "scheduled stripe_customers hourly at :00" in out
    [entry] = [e for e in entries() if e.workspace == workspace.resolve()]
    assert entry.line.startswith("0 * * * * ") and (entry.every, entry.at) == ("hourly", ":00")


def test_removing_the_last_entry_leaves_no_crontab_behind(workspace, tmp_path, kept_crontab):
    """Found by a new user: `crontab -l` said "no crontab" before `schedule` and printed an empty
    crontab after `schedule remove`; removing the last entry now leaves none, as before."""
    from purelink.recipes import Recipe, RecipeStore, SourceChoice, StreamChoice
    from purelink.workspace import Workspace

    if kept_crontab is not None:
        subprocess.run(["crontab", "-r"], capture_output=True, check=False)
    RecipeStore(Workspace.at(workspace)).save(Recipe(
        name="stripe_customers", source=SourceChoice(name="stripe"), streams=[StreamChoice(name="customers")]))
    purelink("schedule", "stripe_customers", "--daily", "--workspace", str(workspace), cwd=tmp_path)
    assert crontab_text() is not None
    purelink("schedule", "remove", "stripe_customers", "--workspace", str(workspace), cwd=tmp_path)
    assert crontab_text() is None
