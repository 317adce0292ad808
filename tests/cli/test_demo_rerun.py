"""`purelink demo` run again while the default sandbox port is busy (the last demo's sandbox still
serving) reuses the recipe version it wrote the first time instead of writing a new one per run."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import duckdb
import pytest

from purelink.cli.sandbox import DEFAULT_PORT as DEMO_PORT

ROOT = Path(__file__).resolve().parents[2]


def demo(ws: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("STRIPE_API_KEY", "stripe_sandbox")}
    env.update(PURELINK_HOME=str(home), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "purelink.cli", "demo", "--executor", "local", "--customers", "40",
                           "--workspace", str(ws)], capture_output=True, text=True, env=env, timeout=600,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@contextlib.contextmanager
def busy(port: int):
    """Hold `port` the way a still-running sandbox does; when another process holds it already,
    it is busy all the same."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError:
        pass
    try:
        yield
    finally:
        sock.close()


@pytest.mark.xdist_group("demo-port")
def test_demo_rerun_with_the_port_busy_keeps_one_recipe_version(tmp_path, private_home, demo_port):
    ws = tmp_path / "ws"
    with busy(DEMO_PORT):
        first = demo(ws, private_home)
        assert f"port {DEMO_PORT} is busy" in first.stdout
        again = demo(ws, private_home)
    versions = sorted(p.name for p in (ws / "recipes").glob("stripe_customers_v*.yaml"))
    assert versions == ["stripe_customers_v1.yaml"], again.stdout
    assert "stripe_customers_v1.yaml (unchanged: reused)" in again.stdout
    # the second run loaded into the same table: 40 customers, no duplicates
    with duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone() == (40, 40)


@contextlib.contextmanager
def sandbox_command(home: Path, *args: str):
    """`purelink sandbox ARGS` on the demo's port, as the demo's next steps have the user start it."""
    env = {**os.environ, "PURELINK_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "purelink.cli", "sandbox", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, stdin=subprocess.DEVNULL)
    try:
        for line in proc.stdout:  # its last line once it serves
            if "Press Ctrl-C" in line:
                break
        assert proc.poll() is None, "the sandbox did not start"
        yield
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


@pytest.mark.xdist_group("demo-port")
def test_demo_uses_a_running_sandbox_that_serves_its_data(tmp_path, private_home, demo_port):
    ws = tmp_path / "ws"
    with sandbox_command(private_home, "--customers", "40"):
        first, again = demo(ws, private_home), demo(ws, private_home)
        with urllib.request.urlopen(f"http://127.0.0.1:{DEMO_PORT}/_sandbox/stats", timeout=10) as answer:
            assert json.loads(answer.read())["requests"] > 0  # the demo's run read from it
    for proc in (first, again):
        assert f"served by the `purelink sandbox` already running on port {DEMO_PORT}" in proc.stdout
        assert "is busy" not in proc.stdout
        assert "purelink sandbox" not in proc.stdout.split("next steps", 1)[1].replace(
            "served by the `purelink sandbox`", "")  # no step that would find the port taken
    assert sorted(p.name for p in (ws / "recipes").glob("stripe_customers_v*.yaml")) == ["stripe_customers_v1.yaml"]
    recipe = (ws / "recipes" / "stripe_customers_v1.yaml").read_text()
    assert f"127.0.0.1:{DEMO_PORT}/v1" in recipe  # the recipe names the port that keeps serving
    with duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone() == (40, 40)


@pytest.mark.xdist_group("demo-port")
def test_demo_does_not_use_a_running_sandbox_with_other_data(tmp_path, private_home, demo_port):
    ws = tmp_path / "ws"
    with sandbox_command(private_home, "--customers", "41"):
        proc = demo(ws, private_home)
    assert f"port {DEMO_PORT} is busy" in proc.stdout and "already running" not in proc.stdout
    with duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone() == (40, 40)
