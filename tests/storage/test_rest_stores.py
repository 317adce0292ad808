"""The same Stripe recipe (sandbox customers + charges) into a DuckDB store and a PostgreSQL store:
identical rows per table, compared with the sandbox's own records and with each other by count and
checksum; an incremental re-run moves only the new rows in both."""

from __future__ import annotations

import json

import httpx

from purelink.engine import Engine
from purelink.sandbox import stripe_data
from purelink.storage import DuckDBStore, PostgresStore
from purelink.storage import open as open_store
from purelink.storage.checksum import canonical, checksum
from tests.storage.stores import METADATA, run_recipe, stripe_recipe

CUSTOMERS = 200


def rows_of(frame) -> list[dict]:
    """A DataFrame's rows by id, metadata left out, each value canonical (NaN and NaT as None)."""
    import pandas as pd

    names = sorted(c for c in frame.columns if not c.startswith(("_purelink_", "_airbyte_")))
    frame = frame[names].astype(object).where(pd.notna(frame[names]), None)
    return sorted(({c: canonical(v.to_pydatetime() if hasattr(v, "to_pydatetime") else v) for c, v in r.items()}
                   for r in frame.to_dict("records")), key=lambda r: r["id"])


def create_customer(api, email: str) -> str:
    r = httpx.post(f"{api.stripe_base_url}/customers", data={"email": email, "name": "New Person"},
                   headers={"Authorization": f"Bearer {api.api_key}"})
    r.raise_for_status()
    return r.json()["id"]


def test_stripe_recipe_lands_the_same_rows_in_duckdb_and_postgres(tmp_path, sandbox_factory, postgres, env_password,
                                                                   purelink_cli):
    api = sandbox_factory(customers=CUSTOMERS)
    truth = stripe_data.dataset(0, CUSTOMERS)
    warehouse = postgres.create_database("wh")
    ws = tmp_path / "ws"
    urls = {"duck": "duckdb:data/stripe.duckdb", "pg": postgres.url(warehouse)}
    for name, url in urls.items():
        stripe_recipe(purelink_cli, ws, f"pay_{name}", api, url)
        done = run_recipe(purelink_cli, ws, f"pay_{name}", api)
        assert done["records"] == CUSTOMERS + len(truth["charges"])
    module = (ws / "pipelines" / "pay_pg.py").read_text()
    assert "PostgresDestination(" in module and '"WAREHOUSE_PASSWORD"' in module
    assert postgres.password not in module

    duck = open_store(urls["duck"], root=ws)
    pg = open_store(urls["pg"])
    assert isinstance(duck, DuckDBStore) and isinstance(pg, PostgresStore)
    for stream in ("customers", "charges"):
        ids = {r.id for r in truth[stream]}
        a, b = duck.table(f"stripe.{stream}", arrow=True), pg.table(f"stripe.{stream}", arrow=True)
        assert a.num_rows == b.num_rows == len(ids)
        assert set(a.column("id").to_pylist()) == set(b.column("id").to_pylist()) == ids
        assert checksum(a, exclude=METADATA) == checksum(b, exclude=METADATA), stream
    # the DataFrames users get: the same values (each store spells JSON text and nulls its own way)
    frames = [rows_of(s.table("stripe.customers")) for s in (duck, pg)]
    assert frames[0] == frames[1]
    assert [r["email"] for r in frames[0]] == \
        [o.obj.get("email") for o in sorted(truth["customers"], key=lambda r: r.id)]
    listed = {name: {(r.schema, r.table): r.rows for r in s.tables().itertuples()} for name, s in
              (("duck", duck), ("pg", pg))}
    assert listed["duck"][("stripe", "customers")] == listed["pg"][("stripe", "customers")] == CUSTOMERS

    # inspect and purelink.run's DataFrames read the warehouse too
    listed = json.loads(purelink_cli(ws, "inspect", "--destination", urls["pg"], "--format", "json").stdout)
    assert {"schema": "stripe", "table": "customers", "rows": CUSTOMERS} in listed
    counted = purelink_cli(ws, "inspect", "--destination", urls["pg"], "--query",
                           "SELECT count(*) AS n FROM stripe.charges", "--format", "json").stdout
    assert json.loads(counted) == [{"n": len(truth["charges"])}]
    frames = Engine(ws).tables("pay_pg")
    assert len(frames["customers"]) == CUSTOMERS and len(frames["charges"]) == len(truth["charges"])

    new = {create_customer(api, f"new{i}@example.com") for i in range(3)}
    for name in urls:
        done = run_recipe(purelink_cli, ws, f"pay_{name}", api)
        # the lookback re-reads the last hour only: the new customers, not the history
        assert 3 <= done["streams"]["customers"]["records"] < 20, done["streams"]
    for store in (duck, pg):
        customers = store.table("stripe.customers", arrow=True)
        got = customers.column("id").to_pylist()
        assert len(got) == len(set(got)) == CUSTOMERS + 3 and new <= set(got)
    assert checksum(duck.table("stripe.customers", arrow=True), exclude=METADATA) == \
        checksum(pg.table("stripe.customers", arrow=True), exclude=METADATA)


def test_a_postgres_store_that_needs_no_password_of_ours_loads_and_one_that_asks_says_which(
        tmp_path, sandbox_factory, postgres, monkeypatch):
    """libpq finds the password itself (~/.pgpass, PGPASSFILE; or the server trusts the host): the
    recipe needs no WAREHOUSE_PASSWORD. A server that asks and gets none: the run says which secret."""
    import os
    import subprocess
    import sys

    api = sandbox_factory(customers=CUSTOMERS)
    truth = stripe_data.dataset(0, CUSTOMERS)
    warehouse = postgres.create_database("nopw")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:*:{postgres.password}\n")
    passfile.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "WAREHOUSE_PASSWORD", "PGPASSFILE")}
    env.update(STRIPE_API_KEY=api.api_key, PYTHONUNBUFFERED="1")
    ws = tmp_path / "ws"

    def cli(*args, **extra):
        return subprocess.run([sys.executable, "-m", "purelink.cli", *args, "--workspace", str(ws)], check=False,
                              capture_output=True, text=True, env={**env, **extra}, timeout=600,
                              stdin=subprocess.DEVNULL)

    made = cli("recipes", "new", "pay", "--source", "stripe", "--streams", "customers", "--base-url",
               api.stripe_base_url, "--executor", "local", "--destination", postgres.url(warehouse))
    assert made.returncode == 0, made.stderr
    refused = cli("recipes", "run", "pay", HOME=str(tmp_path))  # no password anywhere
    assert refused.returncode == 1
    assert "asks for a password, and the secret WAREHOUSE_PASSWORD holds none" in refused.stdout + refused.stderr
    assert "purelink secrets set WAREHOUSE_PASSWORD" in refused.stdout + refused.stderr

    done = cli("recipes", "run", "pay", "--format", "json", PGPASSFILE=str(passfile))
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["records"] == CUSTOMERS
    monkeypatch.setenv("PGPASSFILE", str(passfile))  # this process reads the warehouse the same way
    landed = open_store(postgres.url(warehouse)).table("stripe.customers", arrow=True)
    assert landed.num_rows == len(set(landed.column("id").to_pylist())) == CUSTOMERS
    assert set(landed.column("id").to_pylist()) == {r.id for r in truth["customers"]}
    assert postgres.password not in (ws / "pipelines" / "pay.py").read_text() + done.stdout + done.stderr
