"""A database folder is made by the user running purelink, and only inside the workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env or {}),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run(check=False, args=[sys.executable, "-m", "purelink.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)


def test_a_missing_folder_outside_the_workspace_is_not_created(tmp_path):
    ws, outside = tmp_path / "ws", tmp_path / "nonexistent" / "dir"
    ws.mkdir()
    proc = cli("recipes", "new", "x", "--source", "stripe", "--streams", "customers", "--db",
               str(outside / "x.duckdb"), cwd=ws)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"The folder {outside} for the database" in proc.stderr and "mkdir -p" in proc.stderr
    assert not (tmp_path / "nonexistent").exists()
    assert not list(ws.glob("recipes/*.yaml"))  # nothing written for a recipe that was refused


def test_the_module_refuses_a_missing_folder_too(tmp_path, sandbox):
    ws = tmp_path / "ws"
    ws.mkdir()
    assert cli("recipes", "new", "x", "--source", "stripe", "--streams", "customers", "--base-url",
               sandbox.stripe_base_url, cwd=ws).returncode == 0
    env = {**os.environ, "STRIPE_API_KEY": sandbox.api_key,
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run(check=False, args=[sys.executable, "pipelines/x.py", "--sample", "5", "--db",
                                             str(tmp_path / "nonexistent" / "x.duckdb")],
                          cwd=ws, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 2 and "does not exist; create it first" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "nonexistent").exists()


def test_a_folder_inside_the_workspace_is_made_by_the_user_and_used(tmp_path, sandbox):
    ws = tmp_path / "ws"
    ws.mkdir()
    proc = cli("recipes", "new", "x", "--source", "stripe", "--streams", "customers", "--base-url",
               sandbox.stripe_base_url, "--db", "marts/deep/x.duckdb", "--executor", "local", cwd=ws)
    assert proc.returncode == 0, proc.stderr
    folder = ws / "marts" / "deep"
    assert folder.is_dir() and folder.stat().st_uid == os.getuid()
    run = cli("recipes", "run", "x", cwd=ws, env={"STRIPE_API_KEY": sandbox.api_key})
    assert run.returncode == 0, run.stdout + run.stderr
    with duckdb.connect(str(folder / "x.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone() == (3421, 3421)
