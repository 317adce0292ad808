"""Which table a recipe's rows land in, and what a narrower version does to it, as the user runs
`purelink recipes run`: a second recipe reading the same source table gets a table of its own (named
after it, said in a warning), and a recipe that selects fewer columns says what happens to the
others and prints the full-refresh command that drops them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from purelink.sandbox import stripe_data

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(small_sandbox, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STRIPE_API_KEY": small_sandbox.api_key}

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        return proc
    return run


def new(cli, sandbox, name: str, *more: str) -> None:
    cli("recipes", "new", name, "--source", "stripe", "--streams", "customers", "--base-url", sandbox.stripe_base_url,
        "--executor", "local", *more)


def rows(ws: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def columns(ws: Path, table: str) -> list[str]:
    return [r[0] for r in rows(ws, "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'stripe' "
                                   f"AND table_name = '{table}' AND column_name NOT LIKE '\\_purelink%' ESCAPE '\\'")]


TRUTH = {r.id: r.obj for r in stripe_data.dataset(0, 150)["customers"]}


def test_a_second_recipe_on_the_same_source_table_gets_its_own_table(tmp_path, small_sandbox, cli):
    new(cli, small_sandbox, "custs", "--columns", "customers:id,email")
    db = tmp_path / "data" / "purelink.duckdb"
    assert cli("recipes", "show", "custs").stdout.endswith(
        f"# its rows land in {db}:\n#   customers: stripe.customers (not loaded yet)\n")
    cli("recipes", "run", "custs")
    new(cli, small_sandbox, "custs_eu", "--columns", "customers:id,email,phone")
    assert cli("recipes", "show", "custs").stdout.endswith(f"# its rows land in {db}:\n#   customers: stripe.customers\n")
    # not stripe.customers, which is custs's: the run picks another (and says which, below)
    assert cli("recipes", "show", "custs_eu").stdout.endswith(
        "\n#   customers: not loaded yet; stripe.customers is recipe custs's table, so its first run picks another "
        "and says which (to name one: --streams 'customers:NAME')\n")
    second = cli("recipes", "run", "custs_eu")
    said = second.stdout + second.stderr
    assert "table stripe.customers belongs to recipe custs" in said
    assert "loads into its own table stripe.custs_eu_customers" in said and "into: NAME" in said

    owners = {(s, t): p for s, t, p in rows(tmp_path, "SELECT schema_name, table_name, pipeline "
                                                               "FROM _purelink.tables")}
    assert owners == {("stripe", "customers"): "custs", ("stripe", "custs_eu_customers"): "custs_eu"}
    assert sorted(columns(tmp_path, "customers")) == ["email", "id"]  # the other recipe's phone did not drift in
    assert {i: (e,) for i, e in rows(tmp_path, "SELECT id, email FROM stripe.customers")} == {
        i: (o["email"],) for i, o in TRUTH.items()}
    assert {i: (e, p) for i, e, p in rows(tmp_path, "SELECT id, email, phone FROM stripe.custs_eu_customers")} == {
        i: (o["email"], o["phone"]) for i, o in TRUTH.items()}

    # `recipes show` names the table the rows are in, not the one the recipe named
    assert cli("recipes", "show", "custs_eu").stdout.endswith("\n#   customers: stripe.custs_eu_customers\n")
    assert cli("recipes", "show", "custs").stdout.endswith("\n#   customers: stripe.customers\n")

    # a full refresh of the second recipe leaves the first one's table as it was
    cli("recipes", "run", "custs_eu", "--full-refresh")
    assert rows(tmp_path, "SELECT count(*), count(DISTINCT id) FROM stripe.customers") == [(150, 150)]
    assert rows(tmp_path, "SELECT count(*), count(DISTINCT id) FROM stripe.custs_eu_customers") == [(150, 150)]
    # the next run finds its table again: no third table, no new warning
    again = cli("recipes", "run", "custs_eu")
    assert "belongs to recipe" not in again.stdout + again.stderr
    assert len(rows(tmp_path, "SELECT * FROM _purelink.tables")) == 2


def test_the_table_named_in_the_warning_is_chosen_as_it_says(tmp_path, small_sandbox, cli):
    # The warning's own advice, typed as given: the stream lands in the table named, the other
    # recipe's table stays as it was, and the notebook and terminal name the table the rows are in.
    new(cli, small_sandbox, "custs")
    cli("recipes", "run", "custs")
    new(cli, small_sandbox, "mine")
    said = cli("recipes", "run", "mine").stderr
    assert "(CLI: --streams 'customers:NAME')" in said
    new(cli, small_sandbox, "mine", "--update", "--streams", "customers:My_Customers")
    cli("recipes", "run", "mine")
    for table in ("customers", "My_Customers"):
        got = {i: e for i, e in rows(tmp_path, f'SELECT id, email FROM stripe."{table}"')}
        assert got == {i: o["email"] for i, o in TRUTH.items()}, table
    from purelink.engine import Engine

    engine = Engine(tmp_path)
    assert engine.locations("mine") == {"customers": "stripe.My_Customers"}
    assert engine.locations("custs") == {"customers": "stripe.customers"}
    assert len(engine.tables("mine")["customers"]) == len(TRUTH)


def test_the_exported_notebook_names_and_counts_the_table_the_rows_are_in(tmp_path, small_sandbox, cli):
    # custs owns stripe.customers, so mystripe's rows are in stripe.mystripe_customers: the notebook
    # said it loads `stripe.customers` and its query counted the other recipe's table.
    import json
    import shlex

    new(cli, small_sandbox, "custs", "--columns", "customers:id,email")
    cli("recipes", "run", "custs")
    new(cli, small_sandbox, "mystripe", "--columns", "customers:id,email,name")
    cli("recipes", "run", "mystripe")
    with duckdb.connect(str(tmp_path / "data" / "purelink.duckdb")) as con:  # the tables differ in size
        con.execute("DELETE FROM stripe.customers WHERE id IN (SELECT id FROM stripe.customers LIMIT 40)")
    cli("recipes", "export", "mystripe", "--notebook", "mystripe.ipynb")

    cells = {c["id"]: "".join(c["source"]) for c in json.loads((tmp_path / "mystripe.ipynb").read_text())["cells"]}
    assert "- `stripe.mystripe_customers`: `id`, `email`, `name`" in cells["purelink-about"]
    assert "stripe.customers" not in cells["purelink-about"]
    line = shlex.split(cells["purelink-query"].removeprefix("%purelink "))
    sql = line[line.index("--query") + 1]
    assert "FROM stripe.mystripe_customers" in sql
    assert rows(tmp_path, sql) == rows(tmp_path, "SELECT count(*) FROM stripe.mystripe_customers") == [(150,)]


def test_adding_a_column_says_which_rows_get_it_and_how_the_others_do(tmp_path, small_sandbox, cli):
    # A user added `name` to a recipe whose rows are in a table of its own, ran it incrementally, saw
    # success "(nothing new at the source)" and no name column: nothing had said how rows get it.
    new(cli, small_sandbox, "custs", "--columns", "customers:id,email")
    cli("recipes", "run", "custs")
    new(cli, small_sandbox, "mystripe", "--columns", "customers:id,email")
    cli("recipes", "run", "mystripe")
    told = cli("recipes", "new", "mystripe", "--update", "--columns", "customers:id,email,created,name").stdout
    assert ("note    customers now also loads created, name, which stripe.mystripe_customers does not have: "
            "records read from the next run on carry them; rows already loaded stay without them") in told
    assert "To load them for every row: purelink recipes run mystripe --full-refresh\n" in told

    cli("recipes", "run", "mystripe")  # nothing new at the source: as the note said, still without them
    assert sorted(columns(tmp_path, "mystripe_customers")) == ["email", "id"]
    cli("recipes", "run", "mystripe", "--full-refresh")  # the command the note named, as typed
    assert {i: n for i, n in rows(tmp_path, "SELECT id, name FROM stripe.mystripe_customers")} == {
        i: o["name"] for i, o in TRUTH.items()}
    assert sorted(columns(tmp_path, "customers")) == ["email", "id"]  # the other recipe's table as it was
    quiet = cli("recipes", "new", "mystripe", "--update", "--columns", "customers:id,email,name").stdout
    assert "note" not in quiet  # narrower, and the table has every column it selects: nothing to load


def test_narrowing_the_columns_says_what_happens_and_how_to_apply_it(tmp_path, small_sandbox, cli):
    new(cli, small_sandbox, "custs", "--columns", "customers:id,email,name")
    cli("recipes", "run", "custs")
    cli("recipes", "new", "custs", "--columns", "customers:id,email", "--update")

    narrow = cli("recipes", "run", "custs")
    assert "note: recipe custs v2 no longer selects name of stripe.customers" in narrow.stderr
    assert "values already loaded" in narrow.stderr
    assert "purelink recipes run custs --full-refresh" in narrow.stderr
    # nothing changed in the table: the dropped column keeps its values until the full refresh
    assert {i: n for i, n in rows(tmp_path, "SELECT id, name FROM stripe.customers")} == {
        i: o["name"] for i, o in TRUTH.items()}

    refresh = cli("recipes", "run", "custs", "--full-refresh")
    assert "this full refresh rebuilds stripe.customers without name" in refresh.stderr
    assert sorted(columns(tmp_path, "customers")) == ["email", "id"]
    assert {i: e for i, e in rows(tmp_path, "SELECT id, email FROM stripe.customers")} == {
        i: o["email"] for i, o in TRUTH.items()}
    # and _purelink.schema_changes records the drop (the narrowed run before it loaded no row, so it kept nothing)
    assert rows(tmp_path, "SELECT column_name, change FROM _purelink.schema_changes WHERE table_name = 'customers'"
                ) == [("name", "dropped")]
    quiet = cli("recipes", "run", "custs")  # applied: nothing more to say
    assert "no longer selects" not in quiet.stderr

    # Selected again (with a nested path): the run that finds nothing new says the table lacks them
    # and how to fill them, rather than a bare success with the columns missing.
    cli("recipes", "new", "custs", "--columns", "customers:id,email,name,address.city", "--update")
    wider = cli("recipes", "run", "custs")
    assert "note: recipe custs v3 selects name, address_city, which stripe.customers does not have" in wider.stderr
    assert "purelink recipes run custs --full-refresh" in wider.stderr
    assert sorted(columns(tmp_path, "customers")) == ["email", "id"]  # nothing new at the source: unchanged
    cli("recipes", "run", "custs", "--full-refresh")
    assert {i: (n, c) for i, n, c in rows(tmp_path, "SELECT id, name, address_city FROM stripe.customers")} == {
        i: (o["name"], (o.get("address") or {}).get("city")) for i, o in TRUTH.items()}
    filled = cli("recipes", "run", "custs")
    assert "note:" not in filled.stderr  # address_city is the selected address.city, not a column left over
