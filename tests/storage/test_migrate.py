"""`purelink migrate`: DuckDB -> PostgreSQL -> DuckDB, each step verified by counts and checksums,
and after each the next incremental run in the new store loads only the new rows (the state moved
with the data)."""

from __future__ import annotations

import re

import httpx

from purelink.storage import open as open_store
from purelink.storage.checksum import checksum
from tests.storage.stores import run_recipe, stripe_recipe

CUSTOMERS = 150


def create_customer(api, email: str) -> str:
    r = httpx.post(f"{api.stripe_base_url}/customers", data={"email": email, "name": "Moved Person"},
                   headers={"Authorization": f"Bearer {api.api_key}"})
    r.raise_for_status()
    return r.json()["id"]


def copied_tables(out: str) -> dict[str, tuple[int, int, str]]:
    """table -> (rows from, rows to, mark) from migrate's printed lines."""
    found = re.findall(r"^(\S+\.\S+)\s+(\d+)\s+(\d+)\s+([0-9a-f]{16})\s+([0-9a-f]{16})\s+(ok|MISMATCH)$", out, re.MULTILINE)
    assert all(f[3] == f[4] for f in found)
    return {f[0]: (int(f[1]), int(f[2]), f[5]) for f in found}


def test_migrate_duckdb_to_postgres_and_back_then_incremental_runs_continue(
        tmp_path, sandbox_factory, postgres, env_password, purelink_cli):
    api = sandbox_factory(customers=CUSTOMERS)
    ws = tmp_path / "ws"
    first, last = "duckdb:data/first.duckdb", "duckdb:data/last.duckdb"
    warehouse = postgres.url(postgres.create_database("moved"))
    stripe_recipe(purelink_cli, ws, "pay", api, first)
    loaded = run_recipe(purelink_cli, ws, "pay", api)
    charges = loaded["streams"]["charges"]["records"]
    assert loaded["streams"]["customers"]["records"] == CUSTOMERS and charges > 0

    out = purelink_cli(ws, "migrate", "--from", first, "--to", warehouse).stdout
    tables = copied_tables(out)
    assert tables["stripe.customers"] == (CUSTOMERS, CUSTOMERS, "ok")
    assert tables["stripe.charges"] == (charges, charges, "ok")
    assert tables["_purelink.state"][2] == "ok" and tables["_purelink.state"][0] > 0
    assert tables["_purelink.executions"] == (1, 1, "ok")
    src, dst = open_store(first, root=ws), open_store(warehouse)
    for name in ("stripe.customers", "stripe.charges", "_purelink.state", "_purelink.tables"):
        assert checksum(src.table(name, arrow=True)) == checksum(dst.table(name, arrow=True)), name

    # the same recipe, now pointed at the warehouse: only the new customer moves
    stripe_recipe(purelink_cli, ws, "pay", api, warehouse, "--update")
    new = {create_customer(api, "moved1@example.com")}
    done = run_recipe(purelink_cli, ws, "pay", api)
    assert 1 <= done["streams"]["customers"]["records"] < 20, done["streams"]
    ids = dst.table("stripe.customers", arrow=True).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == CUSTOMERS + 1 and new <= set(ids)
    assert len(dst.table("_purelink.executions")) == 2

    out = purelink_cli(ws, "migrate", "--from", warehouse, "--to", last).stdout
    assert copied_tables(out)["stripe.customers"] == (CUSTOMERS + 1, CUSTOMERS + 1, "ok")
    stripe_recipe(purelink_cli, ws, "pay", api, last, "--update")
    new.add(create_customer(api, "moved2@example.com"))
    done = run_recipe(purelink_cli, ws, "pay", api)
    assert 1 <= done["streams"]["customers"]["records"] < 20, done["streams"]
    back = open_store(last, root=ws)
    ids = back.table("stripe.customers", arrow=True).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == CUSTOMERS + 2 and new <= set(ids)
    assert [r.status for r in back.table("_purelink.executions").itertuples()].count("success") == 3


def test_migrate_refuses_the_same_store_and_an_unknown_one(tmp_path, purelink_cli):
    ws = tmp_path / "ws"
    done = purelink_cli(ws, "migrate", "--from", "duckdb:data/a.duckdb", "--to", "duckdb:data/a.duckdb", ok=False)
    assert done.returncode != 0 and "same store" in done.stderr and "Traceback" not in done.stderr
    done = purelink_cli(ws, "migrate", "--to", "snowflake://p/d", ok=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "not a destination URL" in done.stderr and "bigquery://PROJECT/DATASET" in done.stderr
    # BigQuery is a store now: from a workspace with nothing loaded, migrate names the missing file
    done = purelink_cli(ws, "migrate", "--to", "bigquery://p/d", ok=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "There is no DuckDB file" in done.stderr


def test_a_value_the_target_cannot_hold_fails_the_migration_loudly(tmp_path, postgres, env_password, purelink_cli):
    import duckdb

    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    con = duckdb.connect(str(ws / "data" / "ns.duckdb"))
    # nanoseconds: PostgreSQL keeps microseconds, so the copy reads back different from its source
    con.execute("CREATE SCHEMA lab; CREATE TABLE lab.readings AS SELECT 1 AS id, "
                "TIMESTAMP_NS '2024-01-01 00:00:00.123456789' AS taken")
    con.close()
    done = purelink_cli(ws, "migrate", "--from", "duckdb:data/ns.duckdb", "--to",
                        postgres.url(postgres.create_database("ns")), ok=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "lab.readings" in done.stderr and "differs" in done.stderr, done.stderr
    assert re.search(r"^lab\.readings\s+1\s+1\s+\w+\s+\w+\s+MISMATCH$", done.stdout, re.MULTILINE), done.stdout


def test_a_target_that_holds_the_tables_is_not_overwritten_without_replace(tmp_path, purelink_cli):
    """Found by a new user: a second workspace's migrate into the same warehouse replaced the first
    one's tables and run history, and said 'counts and checksums equal'."""
    import duckdb

    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    for name, rows in (("a", 3), ("b", 5)):
        con = duckdb.connect(str(ws / "data" / f"{name}.duckdb"))
        con.execute(f"CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT range AS id FROM range({rows})")
        con.close()
    purelink_cli(ws, "migrate", "--from", "duckdb:data/a.duckdb", "--to", "duckdb:data/target.duckdb")
    done = purelink_cli(ws, "migrate", "--from", "duckdb:data/b.duckdb", "--to", "duckdb:data/target.duckdb", ok=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "shop.orders (3 rows)" in done.stderr and "--replace" in done.stderr, done.stderr
    target = open_store("duckdb:" + str(ws / "data" / "target.duckdb"))
    assert sorted(target.table("shop.orders")["id"]) == [0, 1, 2]  # nothing written
    out = purelink_cli(ws, "migrate", "--from", "duckdb:data/b.duckdb", "--to", "duckdb:data/target.duckdb",
                       "--replace").stdout
    assert copied_tables(out)["shop.orders"] == (5, 5, "ok")
    assert sorted(target.table("shop.orders")["id"]) == [0, 1, 2, 3, 4]
