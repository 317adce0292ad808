"""Output read by another program: every `--format` piped into a reader that leaves early ends
quietly; Purelink's own tables answer to their short names; image builds speak only when building."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]


def env_for(home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_API_KEY"}
    env.update(PURELINK_HOME=str(home), PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
               **extra)
    return env


def cli(*args: str, cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(check=False, args=[sys.executable, "-m", "purelink.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, sandbox):
    """A workspace with a recipe run (3,421 customers) and a stored secret."""
    ws = tmp_path_factory.mktemp("pipes")
    env = env_for(ws / "home", STRIPE_API_KEY=sandbox.api_key)
    cli("recipes", "new", "custs", "--source", "stripe", "--streams", "customers", "--base-url",
        sandbox.stripe_base_url, "--executor", "local", cwd=ws, env=env)
    cli("recipes", "run", "custs", cwd=ws, env=env)
    cli("secrets", "set", "stripe", "--from-env", "STRIPE_API_KEY", cwd=ws, env=env)
    return ws, env


COMMANDS = [
    *[["inspect", "--tables", "--format", f] for f in ("table", "csv", "json")],
    *[["inspect", "--query", "SELECT * FROM stripe.customers", "--format", f] for f in ("table", "csv", "json")],
    *[["sources", "show", "stripe", "--format", f] for f in ("table", "json")],
    *[["sources", "s", "--format", f] for f in ("table", "json")],
    *[["recipes", "list", "--format", f] for f in ("table", "json")],
    *[["recipes", "new", "custs", "--source", "stripe", "--streams", "customers", "--format", f]
      for f in ("table", "json")],
    *[["secrets", "list", "--format", f] for f in ("table", "json")],
    *[["recipes", "run", "custs", "--format", f] for f in ("table", "json")],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_reader_that_leaves_early_gets_no_traceback(loaded, args):
    ws, env = loaded
    # `| head -1` through a real shell pipe ...
    shell = subprocess.run(check=False, args=["bash", "-c", 'python3 -m purelink.cli "$@" | head -1', "-", *args],
                           cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    assert shell.stdout.strip(), shell.stderr
    assert "Traceback" not in shell.stderr and "BrokenPipe" not in shell.stderr, shell.stderr
    # ... and a pipe whose reader is already gone, so every write meets the broken pipe
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(check=False, args=[sys.executable, "-m", "purelink.cli", *args], cwd=ws, env=env,
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=600)
    finally:
        os.close(write)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 141)


def test_own_tables_answer_to_short_names(loaded):
    ws, env = loaded
    rows = json.loads(cli("inspect", "--query", "SELECT run_id, status FROM executions", "--format", "json",
                          cwd=ws, env=env).stdout)
    with duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True) as con:
        truth = con.execute("SELECT run_id, status FROM _purelink.executions").fetchall()
    assert sorted((r["run_id"], r["status"]) for r in rows) == sorted(truth) and len(truth) >= 1


def test_an_unknown_table_suggests_the_qualified_name(loaded):
    ws, env = loaded
    # a stream's short name answers too, where one schema holds it (tests/cli/test_inspect_short_names.py)
    short = json.loads(cli("inspect", "--query", "SELECT count(*) AS n FROM customers", "--format", "json",
                           cwd=ws, env=env).stdout)
    with duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True) as con:
        assert short == [{"n": con.execute("SELECT count(*) FROM stripe.customers").fetchone()[0]}]
    proc = cli("inspect", "--query", "SELECT * FROM main.customers", cwd=ws, env=env, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "Did you mean stripe.customers?" in proc.stderr


@pytest.mark.docker
def test_a_cached_runtime_image_prints_nothing(monkeypatch):
    from purelink.execution.docker import docker_available
    from purelink.execution.images import ensure_runtime_image

    if not docker_available():
        pytest.skip("no Docker engine")
    monkeypatch.setenv("PURELINK_BASE_IMAGE", os.environ.get("PURELINK_BASE_IMAGE") or "purelink-base:bookworm")
    first: list[str] = []
    built = ensure_runtime_image(on_progress=first.append)
    assert bool(first) == built.built  # a build says so, a cache hit is silent
    again: list[str] = []
    cached = ensure_runtime_image(on_progress=again.append)
    assert cached.tag == built.tag and not cached.built and again == []


@pytest.mark.parametrize("where, stream", [("terminal", "stderr"), ("notebook", "stdout")])
def test_build_progress_is_not_painted_as_an_error(where, stream):
    """A notebook paints stderr red: a build's progress goes to stdout there, to stderr in a
    terminal (stdout stays clean for --format json); chatter is not shown at all."""
    setup = "import ipykernel; " if where == "notebook" else ""
    code = (f"{setup}from purelink.execution.images import print_build_progress as p; "
            "p('Building purelink-runtime:abc on purelink-base:bookworm'); p('Step 2/14 : COPY wheels /wheels'); "
            "p('Collecting httpx'); p('Built purelink-runtime:abc in 31 s')")
    proc = subprocess.run(check=False, args=[sys.executable, "-c", code], capture_output=True, text=True,
                          env=env_for(Path.cwd()), timeout=120)
    assert proc.returncode == 0, proc.stderr
    shown = getattr(proc, stream)
    assert shown == ("image: Building purelink-runtime:abc on purelink-base:bookworm\n"
                     "image: Built purelink-runtime:abc in 31 s\n")
    assert (proc.stdout if stream == "stderr" else proc.stderr) == ""
