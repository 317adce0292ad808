"""`%purelink history NAME` in a real IPython shell: a DataFrame of versions, their commits and runs,
checked against the git log and the `_purelink.executions` table of the real DuckDB file."""

from __future__ import annotations

import os
import subprocess

import duckdb
import pytest

from purelink.recipes import RecipeStore, parse_recipe
from purelink.workspace import Workspace

RECIPE = """\
name: stripe_customers
source: {{name: stripe, base_url: "{base_url}", credential: STRIPE_API_KEY}}
streams:
  - name: customers
    columns: [{columns}]
requirements: {{purpose: poc, frequency: once}}
executor: local
"""


@pytest.fixture
def ip(workspace, small_sandbox, monkeypatch):
    from IPython.testing.globalipapp import get_ipython, start_ipython

    # No global git identity: the history's fixed one steps in, as on a fresh machine.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("STRIPE_API_KEY", small_sandbox.api_key)
    shell = start_ipython() or get_ipython()
    shell.run_line_magic("load_ext", "purelink")
    shell.run_line_magic("config", f"Purelink.workspace = {str(workspace)!r}")
    shell.run_line_magic("config", "Purelink.executor = 'local'")
    shell.run_line_magic("config", "Purelink.widgets = False")
    yield shell
    shell.run_line_magic("unload_ext", "purelink")


def save(workspace, sandbox, columns: str):
    store = RecipeStore(Workspace.at(workspace).ensure())
    return store.save(parse_recipe(RECIPE.format(base_url=sandbox.stripe_base_url, columns=columns)))


def test_history_magic_gives_versions_with_commits_and_runs(ip, workspace, small_sandbox):
    save(workspace, small_sandbox, "id, email, phone")
    assert ip.run_line_magic("purelink", "run stripe_customers --wait").ok
    save(workspace, small_sandbox, "id, email")
    assert ip.run_line_magic("purelink", "run stripe_customers --wait --full-refresh").ok
    assert ip.run_line_magic("purelink", "run stripe_customers --wait").ok

    frame = ip.run_line_magic("purelink", "history stripe_customers")

    assert list(frame.columns) == ["version", "committed", "message", "runs", "last_status", "records",
                                   "schema_changes"]
    assert frame["version"].tolist() == [1, 2]
    assert frame["message"].tolist() == ["new recipe (stripe: customers)", "columns -phone"]
    # The commit dates are git's own, in the order git holds them.
    log = subprocess.run(["git", "log", "--reverse", "--format=%cI"], cwd=workspace, capture_output=True,
                         text=True, check=True).stdout.split()
    assert frame["committed"].tolist() == log
    # Runs per version and the last run's status and records, as _purelink.executions holds them.
    con = duckdb.connect(str(workspace / "data" / "purelink.duckdb"), read_only=True)
    try:
        truth = con.execute(
            "SELECT version, count(*), arg_max(status, started_at), arg_max(records, started_at) "
            "FROM _purelink.executions WHERE recipe = 'stripe_customers' GROUP BY version ORDER BY version").fetchall()
    finally:
        con.close()
    assert truth[0] == (1, 1, "success", 150) and truth[1][:3] == (2, 2, "success")
    assert list(zip(frame["version"], frame["runs"], frame["last_status"], frame["records"])) == \
        [tuple(row) for row in truth]


def test_history_magic_names_the_mistake_without_a_traceback(ip):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="stripe_customers"):
        ip.run_line_magic("purelink", "history stripe_customers")
    with pytest.raises(UsageError, match="Name one recipe"):
        ip.run_line_magic("purelink", "history")


def test_history_magic_counts_each_versions_schema_changes(ip, workspace, small_sandbox, sandbox_factory):
    drifting = sandbox_factory(seed=0, customers=150, drift_after=100)  # same ids; late records change shape
    save(workspace, small_sandbox, "id, email, created, currency, balance")
    assert ip.run_line_magic("purelink", "run stripe_customers --wait").ok
    text = RECIPE.format(base_url=drifting.stripe_base_url, columns="").replace("    columns: []\n", "")
    RecipeStore(Workspace.at(workspace)).save(parse_recipe(text))  # v2: every column, from the drifting API
    assert ip.run_line_magic("purelink", "run stripe_customers --wait --full-refresh").ok

    frame = ip.run_line_magic("purelink", "history stripe_customers")

    con = duckdb.connect(str(workspace / "data" / "purelink.duckdb"), read_only=True)
    try:
        truth = dict(con.execute(
            "SELECT e.version, count(*) FROM _purelink.schema_changes c JOIN _purelink.executions e "
            "ON e.run_id = c.run_id WHERE c.pipeline = 'stripe_customers' GROUP BY e.version").fetchall())
        added = {r[0] for r in con.execute("SELECT column_name FROM _purelink.schema_changes").fetchall()}
    finally:
        con.close()
    assert "loyalty_tier" in added  # the drift the second version's run met
    assert dict(zip(frame["version"], frame["schema_changes"])) == {1: truth.get(1, 0), 2: truth[2]}
    assert truth[2] > 0 and frame["runs"].tolist() == [1, 1]
    assert frame["records"].tolist() == [150, 150] and frame["last_status"].tolist() == ["success", "success"]
