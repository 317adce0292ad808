"""Everything `purelink demo` and `recipes new` print as a next step works when typed as printed."""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from purelink.cli.sandbox import DEFAULT_PORT as DEMO_PORT

ROOT = Path(__file__).resolve().parents[2]


def env_for(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("STRIPE_API_KEY", "stripe_sandbox")}
    env["PURELINK_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def command(line: str) -> list[str]:
    """`purelink X ...` as typed in a shell, run with this interpreter and this checkout."""
    argv = shlex.split(line)
    assert argv[0] == "purelink", line
    return [sys.executable, "-m", "purelink.cli", *argv[1:]]


def printed_next_commands(out: str) -> list[str]:
    block = out.split("next steps\n", 1)[1]
    lines = [line.split("   # ")[0].strip() for line in block.splitlines() if line.startswith("  ")]
    return [line for line in lines if line.startswith("purelink ")]


def wait_for_line(proc: subprocess.Popen, text: str, deadline_s: float = 300) -> str:
    """Read the process's stdout until `text` shows (an event, not a sleep); the deadline only
    keeps a broken server from hanging the suite. Lines come through a thread: select() on a
    buffered pipe misses lines already read into the buffer."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [*[lines.put(line) for line in proc.stdout], lines.put(None)],
                     daemon=True).start()
    seen = ""
    while text not in seen:
        try:
            line = lines.get(timeout=deadline_s)
        except queue.Empty:
            raise AssertionError(f"no {text!r} after {deadline_s} s: {seen}") from None
        assert line is not None, f"the command exited ({proc.wait()}) before saying {text!r}: {seen}"
        seen += line
        assert proc.poll() is None, seen
    return seen


@pytest.mark.xdist_group("demo-port")
@pytest.mark.usefixtures("demo_port")
@pytest.mark.parametrize("executor", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_every_next_command_of_the_demo_works_as_printed(tmp_path, private_home, executor):
    if executor == "docker":
        from purelink.execution.docker import docker_available

        if not docker_available():
            pytest.skip("no Docker engine")
    env = env_for(private_home)
    demo = subprocess.run(check=False, args=command(f"purelink demo --executor {executor} --customers 300"),
                          cwd=tmp_path,
                          env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    steps = printed_next_commands(demo.stdout)
    assert steps[0] == "purelink inspect --tables" and steps[-1] == "purelink recipes run stripe_customers"
    assert steps[1].startswith("purelink sandbox") and "--customers 300" in steps[1]
    server = None
    try:
        for step in steps:
            if step.startswith("purelink sandbox"):
                server = subprocess.Popen(command(step), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
                wait_for_line(server, "Press Ctrl-C")
                continue
            proc = subprocess.run(check=False, args=command(step), cwd=tmp_path, env=env, capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL, timeout=600)
            assert proc.returncode == 0, f"{step}\n{proc.stdout}{proc.stderr}"
            assert "Traceback" not in proc.stderr
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    with duckdb.connect(str(tmp_path / "data" / "purelink.duckdb"), read_only=True) as con:
        rows, ids = con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone()
    assert (rows, ids) == (300, 300)


@pytest.mark.xdist_group("demo-port")
@pytest.mark.usefixtures("demo_port")
def test_a_second_demo_keeps_the_recipe_version(tmp_path, private_home):
    env = env_for(private_home)
    urls = []
    for _ in range(2):
        demo = subprocess.run(check=False, args=command("purelink demo --executor local --customers 50"),
                              cwd=tmp_path, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=600)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        urls.append(re.search(r"Stripe-compatible API at (\S+)", demo.stdout)[1])
        if not urls[-1].startswith(f"http://127.0.0.1:{DEMO_PORT}/"):  # busy (another demo): said aloud
            assert f"port {DEMO_PORT} is busy" in demo.stdout
    # one version per sandbox URL: the same port on both runs means one recipe version
    versions = sorted((tmp_path / "recipes").glob("stripe_customers_v*.yaml"))
    assert len(versions) == len(set(urls))


def test_the_next_command_of_recipes_new_works_as_printed(tmp_path, private_home, sandbox):
    env = env_for(private_home)
    env["STRIPE_API_KEY"] = sandbox.api_key
    new = subprocess.run(check=False, args=command(
        f"purelink recipes new c --source stripe --streams customers --base-url {sandbox.stripe_base_url} "
        "--executor local"), cwd=tmp_path, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=300)
    assert new.returncode == 0, new.stderr
    step = next(line.split("next", 1)[1].strip() for line in new.stdout.splitlines() if line.startswith("next"))
    proc = subprocess.run(check=False, args=command(step), cwd=tmp_path, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with duckdb.connect(str(tmp_path / "data" / "purelink.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT id) FROM stripe.customers").fetchone()[0] == 3421


def test_the_notebook_step_says_how_to_add_the_jupyter_extra_when_it_is_missing(monkeypatch):
    import argparse
    import importlib.util
    import tomllib

    from purelink.cli import demo

    args = argparse.Namespace(workspace=None, customers=demo.DEFAULT_CUSTOMERS)
    real = importlib.util.find_spec
    for missing, lab in (({"ipywidgets"}, []), ({"ipywidgets", "jupyterlab"}, ["jupyterlab"])):
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a, gone=missing: None if name in gone else real(name, *a))
        lines = demo.next_steps(args, "stripe_customers", port=DEMO_PORT, host="127.0.0.1").splitlines()
        install = next(line for line in lines if "pip install" in line)
        assert lines.index(install) + 1 == lines.index(next(ln for ln in lines if "%load_ext purelink" in ln))
        argv = shlex.split(install.split("   # ")[0].strip())
        assert argv == ["pip", "install", "-e", f"{ROOT}[jupyter]", *lab]  # this clone, its extra, a lab if none
        assert ("jupyter lab" in install) == bool(lab)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"ipywidgets", "ipylab"} <= {re.split(r"[<>=\[]", d)[0] for d in extras["jupyter"]}
    monkeypatch.setattr(importlib.util, "find_spec", real)
    assert "pip install" not in demo.next_steps(args, "stripe_customers", port=DEMO_PORT, host="127.0.0.1")
