"""`%purelink` and `%%purelink` in a real IPython shell against the sandbox API."""

from __future__ import annotations

import pyarrow as pa
import pytest
from IPython.core.error import UsageError

pytestmark = pytest.mark.slow


def test_config_traits_are_settable_with_percent_config(ip):
    ip.run_line_magic("config", "Purelink.db_path = 'data/other.duckdb'")
    ip.run_line_magic("config", "Purelink.model = 'gemini-2.5-flash'")
    assert ip.run_line_magic("config", "Purelink.db_path") == "data/other.duckdb"
    assert ip.run_line_magic("config", "Purelink.model") == "gemini-2.5-flash"
    assert ip.run_line_magic("config", "Purelink.executor") == "local"
    names = [type(c).__name__ for c in ip.configurables]
    assert "Purelink" in names


def test_config_rejects_an_unknown_executor(ip, capsys):
    ip.run_line_magic("config", "Purelink.executor = 'kubernetes'")
    assert ip.run_line_magic("config", "Purelink.executor") == "local"


def test_run_returns_dataframes_of_the_sandbox_customers(ip, saved_recipe):
    r = ip.run_line_magic("purelink", "run stripe_customers")
    assert r.ok
    assert r["customers"].shape[0] == 3421
    assert r["customers"]["id"].is_unique
    assert {"id", "email", "_purelink_run_id"} <= set(r["customers"].columns)


def test_run_gives_arrow_on_request(ip, saved_recipe):
    r = ip.run_line_magic("purelink", "run stripe_customers --arrow")
    assert isinstance(r["customers"], pa.Table)
    assert r["customers"].num_rows == 3421


def test_run_prints_the_text_monitor_and_summary(ip, saved_recipe, capsys):
    ip.run_line_magic("purelink", "run stripe_customers --full-refresh")
    out = capsys.readouterr().out
    assert "(full refresh)" in out
    assert "status:      success" in out
    assert "3,421 loaded" in out


def test_recipe_cell_validates_tests_and_runs(ip, recipe_text, workspace, capsys):
    r = ip.run_cell_magic("purelink", "", recipe_text)
    out = capsys.readouterr().out
    assert (workspace.recipes / "stripe_customers_v1.yaml").exists()
    assert (workspace.pipelines / "stripe_customers.py").exists()
    assert "[PASS] credentials" in out  # the test run's checklist
    assert r["customers"].shape[0] == 3421


def test_recipe_cell_no_run_stops_after_the_test(ip, recipe_text, workspace):
    assert ip.run_cell_magic("purelink", "--no-run", recipe_text) is None
    assert (workspace.pipelines / "stripe_customers.py").exists()
    assert not (workspace.data / "purelink.duckdb").exists()


def test_recipe_cell_with_a_bad_field_names_it(ip):
    with pytest.raises(UsageError, match=r"(?s)streams: .*Fix the named field"):
        ip.run_cell_magic("purelink", "", "name: x\nsource: {name: stripe}\nstreams: []\n")


def test_recipe_cell_fails_at_the_credentials_check_with_a_wrong_key(ip, recipe_text, monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_wrongwrongwrong123456")
    with pytest.raises(UsageError, match="test run of stripe_customers failed") as info:
        ip.run_cell_magic("purelink", "", recipe_text)
    assert "wrongwrong" not in str(info.value)


def test_recipes_and_inspect_are_dataframes(ip, saved_recipe):
    ip.run_line_magic("purelink", "run stripe_customers")
    recipes = ip.run_line_magic("purelink", "recipes")
    assert list(recipes["name"]) == ["stripe_customers"]
    tables = ip.run_line_magic("purelink", "inspect --tables")
    counts = {(s, t): n for s, t, n in tables[["schema", "table", "rows"]].itertuples(index=False)}
    assert counts[("stripe", "customers")] == 3421
    assert ("_purelink", "executions") in counts
    q = ip.run_line_magic("purelink", "inspect --query \"SELECT count(*) AS n FROM stripe.customers WHERE id LIKE 'cus_%'\"")
    assert int(q["n"][0]) == 3421
    with pytest.raises(UsageError, match="The query failed: Catalog Error"):
        ip.run_line_magic("purelink", "inspect --query 'SELECT * FROM nowhere'")


def test_export_and_import_round_trip(ip, saved_recipe, workspace):
    ip.run_line_magic("purelink", "export stripe_customers shared/stripe.ipynb")
    assert (workspace.root / "shared/stripe.ipynb").exists()
    ip.run_line_magic("purelink", "import shared/stripe.ipynb")
    assert [p.name for p in workspace.recipes.glob("*.yaml")] == ["stripe_customers_v1.yaml"]


@pytest.mark.parametrize(("line", "says"), [
    ("run nothere", "No recipe named 'nothere'"),
    ("run", "Name one recipe"),
    ("frobnicate", "has no command 'frobnicate'"),
    ("run stripe_customers --wat", "unrecognized arguments"),
    ("inspect --tables", "There is no database at"),
    ("inspect --query \"SELECT 1", "Close the quotes"),
    ("export stripe_customers", "Name the recipe and the notebook"),
    ("import missing.ipynb", "There is no notebook"),
    ("", "needs a notebook that shows widgets"),
])
def test_mistakes_are_usage_errors_with_guidance(ip, saved_recipe, line, says):
    with pytest.raises(UsageError, match=says):
        ip.run_line_magic("purelink", line)


def test_a_missing_key_says_where_to_put_it(ip, saved_recipe, monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY")
    with pytest.raises(UsageError, match="STRIPE_API_KEY"):
        ip.run_line_magic("purelink", "run stripe_customers")


def test_a_failed_run_is_a_usage_error_after_the_summary(ip, saved_recipe, monkeypatch, capsys):
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_wrongwrongwrong123456")  # the API answers 401
    with pytest.raises(UsageError, match="did not succeed"):
        ip.run_line_magic("purelink", "run stripe_customers")
    assert "status:      failed" in capsys.readouterr().out


def test_reload_ext_keeps_one_magic(ip):
    ip.run_line_magic("reload_ext", "purelink")
    assert "purelink" in ip.magics_manager.magics["line"]
    assert sum(type(c).__name__ == "Purelink" for c in ip.configurables) == 1


def test_a_background_run_returns_at_once_and_its_items_wait(workspace, saved_recipe, stripe_key):
    from purelink_jupyter.monitor import LiveMonitor
    from purelink_jupyter.runs import NotebookEngine, PendingResult, run_in_background

    monitor = LiveMonitor("stripe_customers v1")
    pending = run_in_background(NotebookEngine(workspace.root), saved_recipe, monitor=monitor, executor="local")
    assert isinstance(pending, PendingResult)
    assert "running" in repr(pending) or pending.done
    assert pending["customers"].shape[0] == 3421  # waits for the end
    assert pending.ok and monitor.bar.value == 100 and monitor.stop_button.disabled


def test_a_background_run_that_fails_raises_when_read(workspace, saved_recipe, stripe_key, monkeypatch):
    from purelink_jupyter.monitor import LiveMonitor
    from purelink_jupyter.runs import NotebookEngine, run_in_background

    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_wrongwrongwrong123456")
    pending = run_in_background(NotebookEngine(workspace.root), saved_recipe, monitor=LiveMonitor("x"),
                                executor="local")
    with pytest.raises(UsageError, match="did not succeed"):
        pending["customers"]


def test_inspect_reads_any_store_by_its_url(ip, postgres, monkeypatch):
    db = postgres.create_database("magic")
    postgres.execute(db, "CREATE SCHEMA stripe",
                     "CREATE TABLE stripe.customers AS SELECT g AS id FROM generate_series(1, 7) AS g")
    monkeypatch.setenv("WAREHOUSE_PASSWORD", postgres.password)  # the store's default secret name
    tables = ip.run_line_magic("purelink", f"inspect --destination {postgres.url(db)}")
    assert ("stripe", "customers", 7) in set(tables.itertuples(index=False, name=None))
    frame = ip.run_line_magic("purelink", f'inspect --destination {postgres.url(db)} '
                                          '--query "SELECT sum(id) AS s FROM stripe.customers"')
    assert frame["s"].tolist() == [28]
