"""The pipeline process `purelink recipes run` starts before it knows the job (execution/prestart.py,
runtime/host.py): the module runs as `python MODULE ARGS` would run it, keys stay out of the
process's environment, a run through it loads every record, and a command that fails or runs
elsewhere leaves no such process behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb

from purelink.execution import prestart
from tests.cli.test_causes import CLI, new_recipe
from tests.cli.test_kill import pipeline_pids, processes

SHOW = """
import json, os, sys
initial = dict(e.split("=", 1) for e in open("/proc/self/environ").read().split("\\0") if "=" in e)
print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "path0": sys.path[0], "name": __name__,
                  "env": {k: os.environ.get(k) for k in ("PLAIN", "SET_BY_JOB", "SHOP_TOKEN_NOTE", "STRIPE_API_KEY")},
                  "initial": {k: initial.get(k) for k in ("PLAIN", "SHOP_TOKEN_NOTE", "STRIPE_API_KEY")},
                  "preloaded": "pyarrow" in sys.modules and "duckdb" in sys.modules}))
"""


def host_processes(marker: str) -> list[int]:
    return processes("purelink.runtime.host", marker)


def test_the_module_runs_as_python_would_run_it_with_keys_kept_out_of_its_environment(tmp_path, monkeypatch):
    folder = tmp_path / "pipelines"
    folder.mkdir()
    module = folder / "show.py"
    module.write_text(SHOW)
    monkeypatch.setenv("PLAIN", "plain value")
    monkeypatch.setenv("SHOP_TOKEN_NOTE", "looks secret, is not this run's key")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_never_in_an_environment")
    prestart.prestart(module)
    proc = prestart.take(sys.executable, str(module), ["--db", "x.duckdb"], str(tmp_path), {"SET_BY_JOB": "1"},
                         {"STRIPE_API_KEY": "sk_test_never_in_an_environment"})
    assert proc is not None
    out, _ = proc.communicate(timeout=120)
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["argv"] == [str(module), "--db", "x.duckdb"] and seen["name"] == "__main__"
    assert seen["cwd"] == str(tmp_path) and seen["path0"] == str(folder)
    assert seen["preloaded"]  # the imports were done before the job came
    assert seen["env"] == {"PLAIN": "plain value", "SET_BY_JOB": "1",
                           "SHOP_TOKEN_NOTE": "looks secret, is not this run's key", "STRIPE_API_KEY": None}
    # The process's own environment block (what /proc and `ps e` show) holds no secret-looking value.
    assert seen["initial"] == {"PLAIN": "plain value", "SHOP_TOKEN_NOTE": None, "STRIPE_API_KEY": None}


def test_a_run_through_the_early_process_loads_every_record(tmp_path, sandbox_factory):
    api = sandbox_factory(customers=1500, latency_ms=20)
    ws = tmp_path / "ws"
    ws.mkdir()
    new_recipe(ws, "custs", "--source", "stripe", "--streams", "customers", "--base-url", api.stripe_base_url)
    env = {**os.environ, "STRIPE_API_KEY": api.api_key}
    proc = subprocess.Popen([*CLI, "recipes", "run", "custs", "--executor", "local", "--format", "json"], cwd=ws,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    module = ws / "pipelines" / "custs.py"
    seen = []
    while proc.poll() is None and not seen:
        seen = host_processes(str(module))  # the run's process is the early one, named by its module
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert seen, "the run did not go through the process started first"
    assert json.loads(out.strip().splitlines()[-1])["status"] == "success"
    con = duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone() == (1500, 1500)
        assert con.execute("SELECT status, records FROM _purelink.executions").fetchall() == [("success", 1500)]
    finally:
        con.close()
    assert not pipeline_pids(module)


def test_a_command_that_fails_leaves_no_early_process(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    done = subprocess.run([*CLI, "recipes", "run", "no_such_recipe", "--executor", "local"], cwd=ws,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
    assert done.returncode != 0 and "no_such_recipe" in done.stderr
    assert not host_processes(str(ws))  # ended with the command, not left waiting for a job
