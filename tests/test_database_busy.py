"""Another process holds the DuckDB write lock: every way in says so in one paragraph ("busy",
what to do), never with a traceback (issue 14, item 5). The holder is a real second process
with a write connection open on the workspace's data/purelink.duckdb."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import purelink
from purelink.recipes import RecipeStore, parse_recipe
from purelink.workspace import Workspace

RECIPE = """\
name: stripe_customers
source: {{name: stripe, base_url: "{base_url}", credential: STRIPE_API_KEY}}
streams:
  - name: customers
    columns: [id, email, created]
executor: local
"""

HOLD = """\
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS held (x INTEGER)")
print("holding", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def ws(workspace, sandbox, monkeypatch) -> Workspace:
    monkeypatch.setenv("STRIPE_API_KEY", sandbox.api_key)
    ws = Workspace.at(workspace).ensure()
    RecipeStore(ws).save(parse_recipe(RECIPE.format(base_url=sandbox.stripe_base_url)))
    return ws


@pytest.fixture
def held(ws):
    """A second process writing to the workspace's database until the test ends."""
    db = ws.db_path(None)
    db.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"  # waits for the event, not a duration
    yield db
    holder.stdin.close()
    holder.wait()


def assert_one_paragraph(text: str) -> None:
    assert "busy" in text, text
    assert "Traceback" not in text and "IOException" not in text, text
    assert "Wait for the running pipeline" in text, text  # the guidance: what to do next


def test_purelink_run_says_the_database_is_busy(ws, held):
    with pytest.raises(purelink.RuntimeFailure) as caught:
        purelink.run("stripe_customers", workspace=ws.root, executor="local")
    assert isinstance(caught.value, purelink.PurelinkError)
    assert_one_paragraph(caught.value.paragraph())


def test_percent_purelink_run_says_the_database_is_busy(ws, held, capsys):
    from IPython.core.error import UsageError
    from IPython.testing.globalipapp import get_ipython, start_ipython

    shell = start_ipython() or get_ipython()
    shell.run_line_magic("load_ext", "purelink")
    try:
        shell.run_line_magic("config", f"Purelink.workspace = {str(ws.root)!r}")
        shell.run_line_magic("config", "Purelink.executor = 'local'")
        outcome = shell.run_cell("%purelink run stripe_customers")
    finally:
        shell.run_line_magic("unload_ext", "purelink")
        os.chdir(Path(__file__).parent)
    assert isinstance(outcome.error_in_exec, UsageError)  # IPython shows it as one line, no traceback
    assert_one_paragraph(str(outcome.error_in_exec))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err


def purelink_cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "purelink.cli", "--workspace", str(ws.root), *args],
                          check=False, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.xdist_group("demo-port")
@pytest.mark.usefixtures("demo_port")
def test_purelink_demo_says_the_database_is_busy(ws, held):
    done = purelink_cli(ws, "demo", "--executor", "local", "--customers", "20")
    assert done.returncode == 1
    assert_one_paragraph(done.stdout + done.stderr)


def test_purelink_inspect_says_the_database_is_busy(ws, held):
    done = purelink_cli(ws, "inspect", "--tables")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and done.stdout == ""
    assert_one_paragraph(done.stderr)
