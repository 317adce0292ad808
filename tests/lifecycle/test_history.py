"""Recipe history in git: real git, real runs against the sandbox, the real DuckDB file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from purelink.lifecycle.history import describe_change
from purelink.recipes import Recipe, RecipeStore, SourceChoice, StreamChoice
from purelink.secrets.redact import register, unregister
from purelink.workspace import Workspace

# No global or system git config: the fixed identity must step in, as on a fresh machine.
NO_GIT_CONFIG = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def purelink(*args: str, cwd: Path, env: dict | None = None, check: bool = True):
    proc = subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **NO_GIT_CONFIG, **(env or {})}, timeout=600,
                          stdin=subprocess.DEVNULL, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, **NO_GIT_CONFIG}).stdout


def new(ws: Path, base_url: str, *extra: str) -> None:
    """v1, or with --update the next version (recipes new refuses to change an existing recipe without it)."""
    update = ("--update",) if any((ws / "recipes").glob("stripe_customers_v*.yaml")) else ()
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers",
             "--base-url", base_url, "--executor", "local", *update, *extra, cwd=ws)


def test_each_version_is_one_commit_with_its_files_and_what_changed(workspace, sandbox):
    new(workspace, sandbox.stripe_base_url, "--columns", "customers:id,email,phone")
    new(workspace, sandbox.stripe_base_url, "--columns", "customers:id,email")
    new(workspace, sandbox.stripe_base_url, "--columns", "customers:id,email")  # unchanged: no new version

    log = git(workspace, "log", "--format=%an <%ae>|%s").splitlines()
    assert log == ["Purelink <purelink@localhost>|stripe_customers v2: columns -phone",
                   "Purelink <purelink@localhost>|stripe_customers v1: new recipe (stripe: customers)"]
    first = git(workspace, "show", "--name-only", "--format=", "HEAD~1").split()
    assert sorted(first) == [".gitignore", "pipelines/stripe_customers.py", "recipes/stripe_customers_v1.yaml"]
    second = git(workspace, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(second) == ["pipelines/stripe_customers.py", "recipes/stripe_customers_v2.yaml"]
    # The committed module is the one generated for that version.
    assert "v1: generated" in git(workspace, "show", "HEAD~1:pipelines/stripe_customers.py")
    assert "v2: generated" in git(workspace, "show", "HEAD:pipelines/stripe_customers.py")
    ignores = (workspace / ".gitignore").read_text().splitlines()
    assert {"data/", "logs/", ".env", "*.key", "vault/"} <= set(ignores)

    diff = purelink("recipes", "diff", "stripe_customers", "v1", "v2", cwd=workspace).stdout
    assert "stripe_customers v1 -> v2: columns -phone" in diff
    assert "-  - phone" in diff and '+        columns=["id", "email"],' in diff


def test_history_lists_each_versions_runs_and_schema_changes_and_run_rolls_back(workspace, sandbox_factory):
    steady = sandbox_factory(seed=0, customers=150)
    drifting = sandbox_factory(seed=0, customers=150, drift_after=100)  # same ids; late records change shape
    env = {"STRIPE_API_KEY": steady.api_key}
    new(workspace, steady.stripe_base_url)
    purelink("recipes", "run", "stripe_customers", cwd=workspace, env=env)
    new(workspace, drifting.stripe_base_url)
    purelink("recipes", "run", "stripe_customers", "--full-refresh", cwd=workspace, env=env)
    purelink("recipes", "run", "stripe_customers", "--version", "1", "--full-refresh", cwd=workspace, env=env)

    story = json.loads(purelink("recipes", "history", "stripe_customers", "--format", "json", cwd=workspace).stdout)
    versions = {v["version"]: v for v in story["versions"]}
    assert sorted(versions) == [1, 2]
    assert versions[2]["change"] == f"source.base_url {drifting.stripe_base_url}"
    assert f"+  base_url: {drifting.stripe_base_url}" in versions[2]["diff"]
    assert versions[1]["commit"] and versions[2]["commit"]
    assert [r["status"] for r in versions[1]["runs"]] == ["success", "success"]
    assert [r["status"] for r in versions[2]["runs"]] == ["success"]
    assert all(r["records"] == 150 and r["duration_s"] > 0 for v in versions.values() for r in v["runs"])

    con = duckdb.connect(str(workspace / "data" / "purelink.duckdb"), read_only=True)
    try:
        count, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone()
        # A full refresh rebuilds the table, so version 1's run leaves no drifted column at all.
        drifted = con.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'stripe' "
                              "AND table_name = 'customers' AND column_name = 'loyalty_tier'").fetchone()[0]
        recorded = con.execute("SELECT column_name, change FROM _purelink.schema_changes "
                               "WHERE pipeline = 'stripe_customers' ORDER BY changed_at, column_name").fetchall()
        last = con.execute("SELECT version FROM _purelink.executions ORDER BY started_at DESC LIMIT 1").fetchone()
    finally:
        con.close()
    # The rolled-back run reloaded every row from version 1's API: nothing doubled, no drifted value left.
    assert count == distinct == 150 and drifted == 0 and last == (1,)
    assert ("loyalty_tier", "added") in recorded
    shown = [(c["column_name"], c["change"]) for c in story["schema_changes"]]
    assert sorted(shown) == sorted(recorded)
    assert {c["version"] for c in story["schema_changes"]} == {2}  # the drift came with version 2's run

    text = purelink("recipes", "history", "stripe_customers", cwd=workspace).stdout
    assert "stripe_customers v1" in text and "stripe_customers v2" in text
    assert text.count("success") == 3 and "customers.loyalty_tier  added" in text
    # The rolled-back run used version 1's module, byte for byte as version 1 committed it, written
    # beside the latest: pipelines/stripe_customers.py, which a user runs by hand, stays version 2's.
    module = workspace / "pipelines" / "versions" / "v1" / "stripe_customers.py"
    assert module.read_text() == git(workspace, "show", f"{versions[1]['commit']}:pipelines/stripe_customers.py")
    latest = workspace / "pipelines" / "stripe_customers.py"
    assert latest.read_text() == git(workspace, "show", f"{versions[2]['commit']}:pipelines/stripe_customers.py")
    # Runs left data and logs behind, and none of it is tracked or waiting to be added.
    assert (workspace / "logs").is_dir() and (workspace / "data" / "purelink.duckdb").exists()
    assert git(workspace, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_file_holding_a_secret_value_is_never_committed(workspace):
    ws = Workspace.at(workspace).ensure()
    key = "sk_test_history0123456789abcdef"
    (ws.samples / "stripe_customers_preview.json").write_text(json.dumps([{"id": "cus_1", "note": key}]))
    (ws.schemas / "stripe_customers.sql").write_text("CREATE TABLE customers (id VARCHAR);\n")
    (workspace / ".env").write_text(f"STRIPE_API_KEY={key}\n")
    register(key)
    try:
        RecipeStore(ws).save(Recipe(name="stripe_customers", source=SourceChoice(name="stripe", credential="stripe"),
                                    streams=[StreamChoice(name="customers")]))
    finally:
        unregister(key)
    tracked = git(workspace, "ls-files").split()
    assert "schemas/stripe_customers.sql" in tracked and "recipes/stripe_customers_v1.yaml" in tracked
    assert "samples/stripe_customers_preview.json" not in tracked and ".env" not in tracked
    everything = git(workspace, "log", "-p", "--all")
    assert key not in everything


def test_a_workspace_inside_a_repository_commits_there_and_leaves_other_staged_work_alone(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "notes.txt").write_text("work in progress\n")
    git(tmp_path, "add", "notes.txt")
    ws = tmp_path / "analytics"
    ws.mkdir()
    RecipeStore(Workspace.at(ws)).save(Recipe(name="stripe_customers", source=SourceChoice(name="stripe"),
                                              streams=[StreamChoice(name="customers")]))
    assert not (ws / ".git").exists()
    committed = git(tmp_path, "show", "--name-only", "--format=%s", "HEAD").split("\n")
    assert committed[0] == "stripe_customers v1: new recipe (stripe: customers)"
    assert "analytics/recipes/stripe_customers_v1.yaml" in committed and "notes.txt" not in committed
    assert git(tmp_path, "diff", "--cached", "--name-only").split() == ["notes.txt"]


def test_the_commit_message_names_each_kind_of_change():
    v1 = Recipe(name="stripe_customers", source=SourceChoice(name="stripe"),
                streams=[StreamChoice(name="customers", columns=["id", "email", "phone"])])
    v2 = v1.model_copy(update={"version": 2, "streams": [StreamChoice(name="customers", columns=["id", "email"]),
                                                         StreamChoice(name="charges")],
                               "requirements": v1.requirements.model_copy(update={"frequency": "daily"})})
    assert describe_change(v1, v2) == "stripe_customers v2: streams +charges; columns of customers -phone; " \
                                      "frequency daily"


def test_history_while_a_run_writes_says_the_database_is_busy(workspace, sandbox):
    new(workspace, sandbox.stripe_base_url)
    db = workspace / "data" / "purelink.duckdb"
    hold = "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "open"  # a writer holds the file from here on
        proc = purelink("recipes", "history", "stripe_customers", cwd=workspace, check=False)
    finally:
        holder.stdin.close()
        holder.wait(60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "is being written by another process" in proc.stderr and "try again" in proc.stderr.lower()
    assert "stripe_customers v1" in purelink("recipes", "history", "stripe_customers", cwd=workspace).stdout


def test_a_workspace_from_before_history_keeps_its_earlier_versions_as_the_first_commit(workspace):
    ws = Workspace.at(workspace).ensure()
    v1 = Recipe(name="stripe_customers", source=SourceChoice(name="stripe"),
                streams=[StreamChoice(name="customers", columns=["id", "email", "phone"])])
    (ws.recipes / "stripe_customers_v1.yaml").write_text(v1.to_yaml())  # written by an older purelink
    saved = RecipeStore(ws).save(v1.model_copy(update={"streams": [StreamChoice(name="customers",
                                                                                  columns=["id", "email"])]}))
    assert saved.version == 2
    assert git(workspace, "rev-list", "--count", "HEAD").strip() == "2"
    assert git(workspace, "show", "--name-only", "--format=%s", "HEAD").split() == [
        "stripe_customers", "v2:", "columns", "-phone", "pipelines/stripe_customers.py",
        "recipes/stripe_customers_v2.yaml"]
    assert git(workspace, "show", "--name-only", "--format=%s", "HEAD~1").splitlines() == [
        "recipes before history began: stripe_customers", "", ".gitignore", "recipes/stripe_customers_v1.yaml"]
    story = json.loads(purelink("recipes", "history", "stripe_customers", "--format", "json", cwd=workspace).stdout)
    first, second = story["versions"]
    assert first["commit"] and first["change"] == "new recipe (stripe: customers)"
    assert second["commit"] and second["change"] == "columns -phone"
