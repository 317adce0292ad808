"""The command line as scripts and users meet it: subprocesses in fresh folders."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from purelink.cli import COMMANDS
from tests.conftest import duckdb_rows

ROOT = Path(__file__).resolve().parents[2]


def purelink(*args: str, cwd: Path, env: dict | None = None, check: bool = True, timeout: int = 300):
    proc = subprocess.run(check=False, args=[sys.executable, "-m", "purelink.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def test_demo_in_an_empty_folder(tmp_path):
    # A data engineer's shell often exports a real key: the demo's recipe names its own (stripe_sandbox)
    # and never sends that one to the sandbox, which would refuse it.
    env = {**os.environ, "STRIPE_API_KEY": "sk_live_someonesrealkey0000001"}
    proc = subprocess.run(check=False, args=[sys.executable, "-m", "purelink.cli", "demo", "--executor", "local", "--port", "0"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "status:      success" in out
    assert "stripe.customers: 3,421 rows, 3,421 distinct ids" in out
    assert "sk_live_" not in out + proc.stderr
    assert "not isolated" in out  # a local run always says so
    assert (tmp_path / "recipes" / "stripe_customers_v1.yaml").exists()
    assert (tmp_path / "pipelines" / "stripe_customers.py").exists()
    assert list((tmp_path / "logs").glob("execution_*.log"))
    tables = json.loads(purelink("inspect", "--tables", "--format", "json", cwd=tmp_path).stdout)
    assert {"schema": "stripe", "table": "customers", "rows": 3421} in tables
    assert any(t["schema"] == "_purelink" and t["table"] == "executions" for t in tables)
    # the sandbox key never lands in a file the demo wrote
    from purelink.sandbox.stripe_api import DEFAULT_API_KEY as key

    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".duckdb":
            assert key not in path.read_text(errors="ignore"), path


def test_demo_beside_another_sources_customers_shows_its_own_table(tmp_path, small_sandbox):
    """stripe.customers already holds another API's rows: the demo's customers go to a table named
    after its server, and the figures it prints (and the engine's tables) are of that table."""
    env = {"STRIPE_API_KEY": small_sandbox.api_key}
    purelink("recipes", "new", "theirs", "--source", "stripe", "--streams", "customers", "--base-url",
             small_sandbox.stripe_base_url, "--executor", "local", cwd=tmp_path, env=env)
    purelink("recipes", "run", "theirs", cwd=tmp_path, env=env)
    out = purelink("demo", "--executor", "local", "--port", "0", "--customers", "200", cwd=tmp_path,
                   env={"STRIPE_API_KEY": ""}).stdout
    shown = re.search(r"^(stripe\.127_0_0_1_\d+_v1_customers): 200 rows, 200 distinct ids", out, re.MULTILINE)
    assert shown, out
    tables = {(t["schema"], t["table"]): t["rows"] for t in json.loads(
        purelink("inspect", "--tables", "--format", "json", cwd=tmp_path).stdout)}
    assert tables[("stripe", "customers")] == 150  # the other source's rows, untouched
    assert tables[tuple(shown.group(1).split(".", 1))] == 200
    from purelink.engine import Engine

    frames = Engine(tmp_path).tables("stripe_customers")["customers"], Engine(tmp_path).tables("theirs")["customers"]
    assert [(len(f), f["id"].nunique()) for f in frames] == [(200, 200), (150, 150)]


def test_recipes_new_list_show_run_and_inspect(tmp_path, sandbox):
    env = {"STRIPE_API_KEY": sandbox.api_key}
    out = purelink("recipes", "new", "custs", "--source", "stripe", "--streams", "customers,invoices",
                   "--base-url", sandbox.stripe_base_url, "--history-start", "2024-01-01",
                   "--columns", "customers:id,email,address.city", "--executor", "local", "--format", "json",
                   cwd=tmp_path).stdout
    created = json.loads(out)
    assert created["version"] == 1 and Path(created["module"]).exists()
    listed = json.loads(purelink("recipes", "list", "--format", "json", cwd=tmp_path).stdout)
    assert listed[0]["name"] == "custs" and listed[0]["streams"] == ["customers", "invoices"]
    shown = purelink("recipes", "show", "custs", cwd=tmp_path).stdout
    assert "history_start: '2024-01-01'" in shown and sandbox.api_key not in shown
    run = purelink("recipes", "run", "custs", "--format", "json", cwd=tmp_path, env=env)
    finished = json.loads(run.stdout.strip().splitlines()[-1])
    assert finished["status"] == "success"
    assert finished["streams"]["customers"]["records"] == 3421
    assert finished["streams"]["invoices"]["records"] == 4105
    cols = purelink("inspect", "--query", "SELECT * FROM stripe.customers LIMIT 1", "--format", "json",
                    cwd=tmp_path).stdout
    assert set(json.loads(cols)[0]) == {"id", "email", "address_city", "_purelink_run_id", "_purelink_extracted_at"}
    # same command through python -m purelink.recipes
    proc = subprocess.run(check=False, args=[sys.executable, "-m", "purelink.recipes", "list", "--format", "json"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert json.loads(proc.stdout)[0]["name"] == "custs"


def test_a_misspelled_column_is_named_with_what_the_api_calls_it(tmp_path, sandbox):
    # A chosen field that no record has loads as a column of NULLs: said by name, with the field
    # the API does send, never a quiet success. A field the API sends as null (discount) is no mistake.
    purelink("recipes", "new", "typo", "--source", "stripe", "--streams", "customers", "--base-url",
             sandbox.stripe_base_url, "--columns", "customers:id,emial,email,address.cty,discount,zq",
             "--executor", "local", cwd=tmp_path)
    run = purelink("recipes", "run", "typo", cwd=tmp_path, env={"STRIPE_API_KEY": sandbox.api_key})
    warning = next(line for line in run.stderr.splitlines() if "no record read" in line)
    assert "customers: no record read (3,421) had the chosen fields" in warning
    assert "'address.cty' (did you mean 'address.city'?)" in warning and "'emial' (did you mean 'email'?)" in warning
    assert "'zq'" in warning and "discount" not in warning.partition("fields the API sends")[0]
    assert "purelink recipes new typo --update --columns customers:" in warning
    assert "warnings:    1" in run.stdout and "status:      success" in run.stdout
    from tests.runtime.test_owners import truth

    emails = truth(sandbox)
    rows = duckdb_rows(tmp_path / "data" / "purelink.duckdb",
                       "SELECT id, email, emial, address_cty, zq FROM stripe.customers")
    assert len(rows) == len({r[0] for r in rows}) == len(emails) == 3421
    assert {r[0]: r[1] for r in rows} == emails  # the right field, value by value
    assert all(r[2] is None and r[3] is None and r[4] is None for r in rows)


def test_a_changed_recipe_is_a_new_version(tmp_path, sandbox):
    args = ["recipes", "new", "r", "--source", "stripe", "--streams", "customers", "--format", "json"]
    assert json.loads(purelink(*args, cwd=tmp_path).stdout)["version"] == 1
    assert json.loads(purelink(*args, cwd=tmp_path).stdout)["version"] == 1  # unchanged: kept
    changed = json.loads(purelink(*args, "--history-start", "2025-01-01", "--update", cwd=tmp_path).stdout)
    assert changed["version"] == 2
    assert (tmp_path / "recipes" / "r_v1.yaml").exists() and (tmp_path / "recipes" / "r_v2.yaml").exists()


@pytest.mark.parametrize("args, message", [
    (["recipes", "run", "nope"], "No recipe named 'nope'"),
    (["recipes", "new", "x", "--source", "stripe", "--streams", "customerz"], "has no stream named 'customerz'"),
    (["recipes", "new", "x", "--source", "strype", "--streams", "customers"], "No source named 'strype'"),
    (["recipes", "new", "Bad-Name", "--source", "stripe", "--streams", "customers"], "lower-case letters"),
    (["recipes", "new", "x", "--source", "stripe", "--streams", "customers", "--history-start", "soon"],
     "history_start must be an ISO date"),
    (["inspect", "--tables"], "There is no database"),
    (["recipes", "new", "x", "--source", "stripe", "--streams", "customers", "--columns", "charges:id"],
     "--columns names charges, which is not among the recipe's streams"),
    (["recipes", "new", "x", "--source", "stripe", "--streams", "customers", "--columns",
      "customers:id,address.city,address_city"], "'address.city' and 'address_city' would be held by one column"),
])
def test_user_mistakes_give_one_paragraph_and_no_traceback(tmp_path, args, message):
    proc = purelink(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_a_misspelled_recipe_or_the_wrong_folder_is_named_as_such(tmp_path, sandbox):
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers", "--base-url",
             sandbox.stripe_base_url, cwd=tmp_path)
    typo = purelink("recipes", "run", "stripe_customer", cwd=tmp_path, check=False)
    assert typo.returncode == 1 and "Did you mean stripe_customers?" in typo.stderr
    assert "recipes new stripe_customer " not in typo.stderr  # not an offer to create the typo
    purelink("recipes", "new", "pay", "--source", "stripe", "--streams", "charges", "--base-url",
             sandbox.stripe_base_url, cwd=tmp_path)
    swapped = purelink("recipes", "run", "pya", cwd=tmp_path, check=False)  # two letters swapped in a short name
    assert swapped.returncode == 1 and "Did you mean pay?" in swapped.stderr, swapped.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lost = purelink("recipes", "run", "stripe_customers", cwd=elsewhere, check=False)
    assert lost.returncode == 1 and "--workspace PATH" in lost.stderr and str(elsewhere) in lost.stderr
    found = purelink("recipes", "show", "stripe_customers", "--workspace", str(tmp_path), cwd=elsewhere)
    assert "stripe_customers" in found.stdout


def test_recipes_help_shows_where_ready_and_shared_recipes_are_listed(tmp_path):
    shown = purelink("recipes", "--help", cwd=tmp_path).stdout
    assert "--library" in shown and "--shared" in shown  # `recipes list` is where both are


def test_missing_key_says_which_variable_to_set(tmp_path, sandbox):
    purelink("recipes", "new", "k", "--source", "stripe", "--streams", "customers", "--base-url",
             sandbox.stripe_base_url, cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_API_KEY"}
    env["PURELINK_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(check=False, args=[sys.executable, "-m", "purelink.cli", "recipes", "run", "k", "--executor", "local"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "STRIPE_API_KEY" in proc.stderr


def test_an_unknown_option_is_told_with_the_usage_of_its_own_command(tmp_path):
    # A trial's `recipes run sc --bogus` printed purelink's top-level usage, which lists no run option.
    proc = purelink("recipes", "run", "sc", "--bogus", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "usage: purelink recipes run" in proc.stderr, proc.stderr
    assert "--full-refresh" in proc.stderr and "unrecognized arguments: --bogus" in proc.stderr
    proc = purelink("--frob", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "usage: purelink [-h]" in proc.stderr, proc.stderr


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for command in COMMANDS:
        assert re.search(rf"`purelink {re.escape(command)}\b", readme), f"purelink {command} is not in README.md"


def test_python_run_returns_dataframes(tmp_path, sandbox, monkeypatch):
    import purelink as package

    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers",
             "--base-url", sandbox.stripe_base_url, "--executor", "local", cwd=tmp_path)
    monkeypatch.setenv("STRIPE_API_KEY", sandbox.api_key)
    result = package.run("stripe_customers", workspace=tmp_path)
    assert result["customers"].shape[0] == 3421
    assert result.status == "success" and "stripe_customers" in repr(result)


def test_recipes_new_says_its_rate_limit_and_takes_another(tmp_path, sandbox):
    args = ["recipes", "new", "r", "--source", "stripe", "--streams", "customers", "--base-url", sandbox.stripe_base_url,
            "--executor", "local"]
    assert "rate    25 requests/s, the limit Stripe documents" in purelink(*args, cwd=tmp_path).stdout
    out = purelink("recipes", "new", "r", "--update", "--rate-limit", "200", cwd=tmp_path).stdout
    assert "rate    200 requests/s (set in the recipe" in out
    assert "rate_limit=200.0" in (tmp_path / "pipelines" / "r.py").read_text()
    bad = purelink("recipes", "new", "r", "--update", "--rate-limit", "0", cwd=tmp_path, check=False)
    assert bad.returncode != 0 and "--rate-limit 0 is not a rate" in bad.stderr
    assert sorted(p.name for p in (tmp_path / "recipes").glob("r_v*.yaml")) == ["r_v1.yaml", "r_v2.yaml"]
    run = purelink("recipes", "run", "r", "--format", "json", cwd=tmp_path, env={"STRIPE_API_KEY": sandbox.api_key})
    assert json.loads(run.stdout.strip().splitlines()[-1])["records"] == 3421
    started = [json.loads(line) for f in (tmp_path / "logs").iterdir() for line in f.read_text().splitlines()
               if '"started"' in line]
    assert started[-1]["rate_limit"] == 200.0


def test_a_missing_key_names_the_vault_entry_the_demo_stored(tmp_path, sandbox):
    from purelink.secrets.vault import Vault

    Vault().set("stripe_sandbox", sandbox.api_key)  # as `purelink demo` stores it (PURELINK_HOME is private)
    purelink("recipes", "new", "r", "--source", "stripe", "--streams", "customers", "--base-url",
             sandbox.stripe_base_url, "--executor", "local", cwd=tmp_path)
    refused = purelink("recipes", "run", "r", cwd=tmp_path, check=False)
    assert refused.returncode != 0
    assert "The vault holds stripe_sandbox: to use it, `purelink recipes new r --update --credential " \
           "stripe_sandbox`." in refused.stderr
    purelink("recipes", "new", "r", "--update", "--credential", "stripe_sandbox", cwd=tmp_path)
    done = purelink("recipes", "run", "r", "--format", "json", cwd=tmp_path)
    assert json.loads(done.stdout.strip().splitlines()[-1])["records"] == 3421
    assert sandbox.api_key not in done.stdout + done.stderr + refused.stderr
    shown = purelink("inspect", "--query", "SELECT repeat('x', 100) AS long, 'short' AS s", cwd=tmp_path).stdout
    assert "x" * 59 + "…" in shown and "x" * 60 not in shown and "--format json or csv shows them whole" in shown
    whole = json.loads(purelink("inspect", "--query", "SELECT repeat('x', 100) AS long", "--format", "json",
                                cwd=tmp_path).stdout)
    assert whole == [{"long": "x" * 100}]


def test_version_names_the_package_version(tmp_path):
    import purelink as package

    out = purelink("--version", cwd=tmp_path)
    assert out.stdout.strip() == f"purelink {package.__version__}"


def test_help_names_the_environment_variables_that_purelink_reads(tmp_path):
    from purelink.cli import ENVIRONMENT

    out = purelink("--help", cwd=tmp_path).stdout
    package = Path(__file__).resolve().parents[2] / "purelink"
    code = "\n".join(p.read_text() for p in package.rglob("*.py") if p != package / "cli" / "__init__.py")
    named = set(ENVIRONMENT) | {"PURELINK_GEMINI_MODEL"}
    for name in named:
        assert name in out, name
        assert re.search(rf"[\"'`]{name}[\"'`]", code), f"{name} is in the help but purelink never reads it"
    assert max(len(line) for line in out.split("environment:", 1)[1].splitlines()) <= 80  # a terminal's width


def test_recipes_new_says_when_the_key_is_not_set_yet(tmp_path):
    # The first run used to be where a new user learnt the key was missing.
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "PURELINK_HOME")}
    env["PURELINK_HOME"] = str(tmp_path / "home")

    def new(name: str, **more: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "purelink.cli", "recipes", "new", name, "--source", "github",
                               "--streams", "issues"], cwd=tmp_path, env={**env, **more}, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    said = new("gh")
    assert "key     GITHUB_TOKEN is not set yet: store it with `purelink secrets set GITHUB_TOKEN`" in said
    assert said.index("key ") < said.index("next ")
    assert "key " not in new("gh2", GITHUB_TOKEN="ghp_set_in_the_shell")
