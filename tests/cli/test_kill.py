"""`kill -9` of the `purelink` command during a real run: the pipeline stops with it (no orphan),
no secret is left on disk, and the executions row tells what was committed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb

from tests.cli.test_causes import CLI, log_events, new_recipe, wait_for_event


def secret_files(tmp: Path) -> set[Path]:
    return set(tmp.glob("purelink-secrets-*"))


def files_holding(secret: str, *folders: Path) -> list[Path]:
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix != ".duckdb" and not path.name.endswith(".wal"):
                try:
                    if secret in path.read_text(errors="ignore"):
                        found.append(path)
                except OSError:
                    pass
    return found


def processes(*needles: str) -> list[int]:
    """Processes whose command line holds each of `needles` (ours alone: the paths are in this test's
    tmp folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if all(needle in cmdline for needle in needles):
                pids.append(int(entry.name))
    return pids


def pipeline_pids(module: Path) -> list[int]:
    """Processes running this pipeline module (the process `recipes run` started first names it too)."""
    return processes(str(module))


def test_kill_9_of_the_command_stops_the_pipeline_and_leaves_no_secret(tmp_path, sandbox_factory):
    api = sandbox_factory(customers=6000, latency_ms=60)
    ws = tmp_path / "ws"
    ws.mkdir()
    new_recipe(ws, "custs", "--source", "stripe", "--streams", "customers", "--base-url", api.stripe_base_url)
    tmp = tmp_path / "tmp"  # the command's own temporary folder: other runs on this machine stay out
    tmp.mkdir()
    proc = subprocess.Popen([*CLI, "recipes", "run", "custs", "--executor", "local"], cwd=ws,
                            env={**os.environ, "STRIPE_API_KEY": api.api_key, "TMPDIR": str(tmp)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    wait_for_event(ws, proc, "page")
    module = ws / "pipelines" / "custs.py"
    assert pipeline_pids(module), "the pipeline should be running"
    assert not secret_files(tmp)  # a local run gets its key through a pipe, never a file
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    end = time.monotonic() + 120
    while pipeline_pids(module):  # it notices its parent is gone and stops by itself
        assert time.monotonic() < end, "the pipeline outlived the command that started it"
        time.sleep(0.1)
    assert not secret_files(tmp)
    assert not files_holding(api.api_key, ws)  # not in the recipe, the module or the logs
    db = ws / "data" / "purelink.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    try:
        status, records = con.execute("SELECT status, records FROM _purelink.executions").fetchone()
        landed, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone()
    finally:
        con.close()
    assert status == "stopped"
    assert 0 < landed == distinct == records < 6000
    assert any(e["event"] == "page" for e in log_events(ws))
    # and a re-run resumes: every customer once
    rerun = subprocess.run([*CLI, "recipes", "run", "custs", "--executor", "local", "--format", "json"], check=False, cwd=ws,
                           env={**os.environ, "STRIPE_API_KEY": api.api_key}, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=600)
    assert json.loads(rerun.stdout.strip().splitlines()[-1])["status"] == "success", rerun.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone() == (6000, 6000)
    finally:
        con.close()
