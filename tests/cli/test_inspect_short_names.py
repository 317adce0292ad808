"""`purelink inspect --query` and the Store interface take short table names (`executions`, a
stream's name without its schema) on the PostgreSQL warehouse as on DuckDB; a name two schemas
hold is refused with both qualified names instead of one being picked."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import purelink.storage
from purelink.errors import PurelinkError
from purelink.sandbox import stripe_data

ROOT = Path(__file__).resolve().parents[2]


def purelink_cli(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=300, check=False)


def load(ws: Path, env: dict, sandbox, *destination: str) -> None:
    made = purelink_cli("recipes", "new", "custs", "--source", "stripe", "--streams", "customers",
                        "--base-url", sandbox.stripe_base_url, "--executor", "local", *destination, cwd=ws, env=env)
    assert made.returncode == 0, made.stderr
    ran = purelink_cli("recipes", "run", "custs", cwd=ws, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def emails(frame) -> dict:
    return {i: (None if pd.isna(e) else e) for i, e in zip(frame["id"], frame["email"], strict=True)}


def query(ws: Path, env: dict, sql: str, *destination: str) -> list[dict]:
    out = purelink_cli("inspect", *destination, "--query", sql, "--format", "json", cwd=ws, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def env(small_sandbox, postgres):
    return {**os.environ, "PYTHONPATH": str(ROOT), "STRIPE_API_KEY": small_sandbox.api_key,
            "WAREHOUSE_PASSWORD": postgres.password}


def test_short_names_on_the_postgres_warehouse(tmp_path, small_sandbox, postgres, env, secrets_env):
    url = postgres.url(postgres.create_database("wh"))
    where = ("--destination", url)
    load(tmp_path, env, small_sandbox, *where)
    truth = {r.id: r.obj["email"] for r in stripe_data.dataset(0, 150)["customers"]}

    rows = query(tmp_path, env, "SELECT id, email FROM customers", *where)
    assert {r["id"]: r["email"] for r in rows} == truth and len(rows) == 150
    runs = query(tmp_path, env, "SELECT status, records FROM executions", *where)
    assert [(r["status"], r["records"]) for r in runs] == [("success", 150)]
    # an integer column holding a NULL (a running row has no count yet) prints as integers, not 150.0
    shown = purelink_cli("inspect", *where, "--query", "SELECT records FROM executions UNION ALL SELECT NULL",
                         cwd=tmp_path, env=env).stdout.split()
    assert "150" in shown and "NULL" in shown and "150.0" not in shown, shown

    with purelink.storage.open(url, "WAREHOUSE_PASSWORD") as store:  # the Store interface, same names
        frame = store.table("customers")
        assert emails(frame) == truth
        assert store.table("executions")["records"].tolist() == [150]
        assert store.query("SELECT count(*) AS n FROM customers")["n"].tolist() == [150]

    # a second schema with a table of the same name: the short name is refused, both are named
    postgres.execute(url.rsplit("/", 1)[1], "CREATE SCHEMA shop", "CREATE TABLE shop.customers (id text)")
    out = purelink_cli("inspect", *where, "--query", "SELECT count(*) FROM customers", cwd=tmp_path, env=env)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "shop.customers or stripe.customers" in out.stderr, out.stderr
    assert query(tmp_path, env, "SELECT count(*) AS n FROM stripe.customers", *where) == [{"n": 150}]
    with purelink.storage.open(url, "WAREHOUSE_PASSWORD") as store, pytest.raises(PurelinkError):
        store.table("customers")


def test_short_names_on_duckdb_the_same_way(tmp_path, small_sandbox, env):
    load(tmp_path, env, small_sandbox)
    truth = {r.id: r.obj["email"] for r in stripe_data.dataset(0, 150)["customers"]}
    rows = query(tmp_path, env, "SELECT id, email FROM customers")
    assert {r["id"]: r["email"] for r in rows} == truth and len(rows) == 150
    assert [r["records"] for r in query(tmp_path, env, "SELECT records FROM executions")] == [150]
    with purelink.storage.open("duckdb:data/purelink.duckdb", root=tmp_path) as store:
        assert emails(store.table("customers")) == truth


def test_any_duckdb_file_is_queried_and_a_change_is_refused_with_what_to_do(tmp_path):
    """A file no pipeline wrote (no bookkeeping schema), odd names; inspect only ever reads."""
    import duckdb

    db = tmp_path / "theirs.duckdb"
    truth = [(i, f"naïve \"{i}\" 'x'" if i % 5 else None) for i in range(1, 301)]
    with duckdb.connect(str(db)) as con:
        con.execute('CREATE SCHEMA "Sales Q1"')
        con.execute('CREATE TABLE "Sales Q1"."Order Lines" (id INTEGER, "Note" VARCHAR)')
        con.executemany('INSERT INTO "Sales Q1"."Order Lines" VALUES (?, ?)', truth)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for sql in ('SELECT id, "Note" FROM "Order Lines" ORDER BY id', 'SELECT * FROM "Sales Q1"."Order Lines"'):
        out = purelink_cli("inspect", "--db", str(db), "--query", sql, "--format", "json", "--limit", "1000",
                           cwd=tmp_path, env=env)
        assert out.returncode == 0, out.stderr
        assert sorted((r["id"], r["Note"]) for r in json.loads(out.stdout)) == truth
    refused = purelink_cli("inspect", "--db", str(db), "--query", 'DELETE FROM "Order Lines"', cwd=tmp_path, env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "only reads" in refused.stderr and f"duckdb.connect({str(db.resolve())!r})" in refused.stderr
    assert "Check table names" not in refused.stderr  # the table was right: no hint about its name
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute('SELECT count(*) FROM "Sales Q1"."Order Lines"').fetchone() == (300,)


def test_a_table_named_after_its_server_is_queried_with_quotes_and_the_error_says_so(tmp_path):
    """A second source's stream lands in a table named after its server (`127_0_0_1_8765_v1_customers`):
    no plain SQL name. Typed bare, the parser's error comes with the quoted spelling, which works."""
    import duckdb

    db = tmp_path / "two.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute('CREATE SCHEMA stripe; CREATE TABLE stripe."127_0_0_1_8765_v1_customers" AS '
                    "SELECT range AS id FROM range(37)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bare = purelink_cli("inspect", "--db", str(db), "--query", "SELECT count(*) FROM stripe.127_0_0_1_8765_v1_customers",
                        cwd=tmp_path, env=env)
    assert bare.returncode == 1 and "Traceback" not in bare.stderr
    quoted = 'stripe."127_0_0_1_8765_v1_customers"'
    assert f"write it in double quotes, {quoted}" in bare.stderr, bare.stderr
    # The advice, typed into a shell as printed (inside "..." the shell would strip the name's quotes).
    asked = "SELECT count(*) AS n, count(DISTINCT id) AS d FROM stripe.127_0_0_1_8765_v1_customers WHERE 'a' <> 'b'"
    told = purelink_cli("inspect", "--db", str(db), "--query", asked, cwd=tmp_path, env=env)
    advice = told.stderr.strip().rsplit("so the shell keeps them: ", 1)[1]
    out = subprocess.run(f"{shlex.quote(sys.executable)} -m purelink.cli inspect --db {shlex.quote(str(db))} "
                         f"--format json {advice}", shell=True, cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0 and json.loads(out.stdout) == [{"n": 37, "d": 37}], (advice, out.stderr)
