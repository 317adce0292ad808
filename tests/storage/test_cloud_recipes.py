"""Recipes into BigQuery (the emulator) and Iceberg (local files, and S3 through moto), driven the
user's way: `purelink recipes new ... --destination URL`, `purelink recipes run`, `purelink inspect`,
`purelink migrate`. The rows equal a DuckDB store's by count and checksum per table, a re-run moves
only new rows, and a migrated workspace's next run continues in the new store."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from purelink.storage import open as open_store
from purelink.storage.checksum import checksum
from tests.storage.stores import METADATA, run_recipe, stripe_recipe

pytest.importorskip("google.cloud.bigquery")
pytest.importorskip("pyiceberg")

CUSTOMERS = 120
TABLES = ("stripe.customers", "stripe.charges")


def create_customer(api, email: str) -> str:
    r = httpx.post(f"{api.stripe_base_url}/customers", data={"email": email, "name": "Cloud Person"},
                   headers={"Authorization": f"Bearer {api.api_key}"})
    r.raise_for_status()
    return r.json()["id"]


@pytest.fixture
def cloud_urls(bq_emulator, s3_server, s3_bucket, postgres, tmp_path, monkeypatch) -> dict[str, str]:
    """A fresh BigQuery dataset, a local Iceberg warehouse, and an Iceberg catalog in PostgreSQL
    with its files in an S3 bucket (keys by vault name; here, where stores read them, too)."""
    monkeypatch.setenv("S3_KEYS", S3_ENV["S3_KEYS"])
    catalog = postgres.create_database(f"ice_{uuid.uuid4().hex[:8]}")
    return {
        "bq": f"bigquery://purelink-test/ds_{uuid.uuid4().hex[:8]}?endpoint={bq_emulator}",
        "ice": f"iceberg://{tmp_path / 'warehouse'}",
        "s3": f"iceberg+postgresql://{postgres.user}@{postgres.host}:{postgres.port}/{catalog}"
              f"?warehouse=s3://{s3_bucket}/wh&endpoint={s3_server}&s3_credential=S3_KEYS",
    }


S3_ENV = {"S3_KEYS": "testing-access-key:testing-secret-key"}  # moto takes any pair


def test_stripe_recipe_lands_in_bigquery_and_iceberg_as_in_duckdb(tmp_path, sandbox_factory, cloud_urls, purelink_cli):
    api = sandbox_factory(customers=CUSTOMERS)
    ws = tmp_path / "ws"
    stripe_recipe(purelink_cli, ws, "pay_duck", api, "duckdb:data/pay.duckdb")
    reference = run_recipe(purelink_cli, ws, "pay_duck", api)
    duck = open_store("duckdb:data/pay.duckdb", root=ws)
    expected = {t: duck.table(t, arrow=True) for t in TABLES}
    for name, url in cloud_urls.items():
        extra = ["--destination-credential", "WAREHOUSE_PASSWORD"] if name == "s3" else []
        stripe_recipe(purelink_cli, ws, f"pay_{name}", api, url, *extra)
        module = (ws / "pipelines" / f"pay_{name}.py").read_text()
        assert ("BigQueryDestination(" if name == "bq" else "IcebergDestination(") in module
        done = purelink_cli(ws, "recipes", "run", f"pay_{name}", "--format", "json",
                            env={"STRIPE_API_KEY": api.api_key, **S3_ENV})
        # the store's client is not in the runtime image: the local executor, said once
        assert done.stderr.count("use the local executor") == 1, done.stderr
        finished = json.loads(done.stdout.strip().splitlines()[-1])
        assert finished["status"] == "success" and finished["records"] == reference["records"], finished
        store = open_store(url, "WAREHOUSE_PASSWORD" if name == "s3" else None)
        for table in TABLES:
            landed = store.table(table, arrow=True)
            assert landed.num_rows == expected[table].num_rows, (name, table)
            assert checksum(landed, exclude=METADATA) == checksum(expected[table], exclude=METADATA), (name, table)
        # where each stream went, read back from the store's own executions (Engine.tables reads it)
        assert store.landed(f"pay_{name}") == {"customers": ("stripe", "customers"),
                                               "charges": ("stripe", "charges")}, name
        listed = purelink_cli(ws, "inspect", "--destination", url, *extra, "--tables", env=S3_ENV).stdout
        assert f"{CUSTOMERS}" in listed and "customers" in listed and "charges" in listed, listed
    logged = "".join(p.read_text() for p in (ws / "logs").glob("execution_*.log"))
    assert logged.count('"event": "executor"') == len(cloud_urls)

    # one new customer: each store's re-run moves it alone
    new = create_customer(api, "cloud1@example.com")
    for name, url in cloud_urls.items():
        done = run_recipe(purelink_cli, ws, f"pay_{name}", api) if name != "s3" else \
            json.loads(purelink_cli(ws, "recipes", "run", f"pay_{name}", "--format", "json",
                                    env={"STRIPE_API_KEY": api.api_key, **S3_ENV}).stdout.strip().splitlines()[-1])
        assert 1 <= done["streams"]["customers"]["records"] < 20 and done["streams"]["charges"]["records"] == 0, \
            (name, done["streams"])
        ids = open_store(url, "WAREHOUSE_PASSWORD" if name == "s3" else None) \
            .table("stripe.customers", arrow=True).column("id").to_pylist()
        assert len(ids) == len(set(ids)) == CUSTOMERS + 1 and new in ids, name


def test_bigquery_store_reads_back_the_duckdb_store_dataframe(tmp_path, sandbox_factory, bq_emulator, kit,
                                                              purelink_cli):
    from purelink.storage import BigQueryStore, DuckDBStore

    api = sandbox_factory(customers=60)
    ws = tmp_path / "ws"
    dataset = f"ds_{uuid.uuid4().hex[:8]}"
    stripe_recipe(purelink_cli, ws, "pay_duck", api, "duckdb:data/pay.duckdb")
    stripe_recipe(purelink_cli, ws, "pay_bq", api, f"bigquery://purelink-test/{dataset}?endpoint={bq_emulator}")
    run_recipe(purelink_cli, ws, "pay_duck", api)
    run_recipe(purelink_cli, ws, "pay_bq", api)
    bq = BigQueryStore(f"purelink-test.{dataset}", endpoint=bq_emulator).table("stripe.customers")
    duck = DuckDBStore(ws / "data" / "pay.duckdb").table("stripe.customers")
    loaded = sorted(c for c in duck.columns if not c.startswith("_purelink"))
    assert sorted(c for c in bq.columns if not c.startswith("_purelink")) == loaded
    assert kit.fingerprint(bq[loaded]) == kit.fingerprint(duck[loaded]), kit.differences(bq[loaded], duck[loaded])


@pytest.mark.parametrize("target", ["bq", "ice"])
def test_migrate_into_a_cloud_store_then_the_next_run_continues_there(tmp_path, sandbox_factory, cloud_urls, target,
                                                                     purelink_cli):
    api = sandbox_factory(customers=CUSTOMERS)
    ws = tmp_path / "ws"
    first, url = "duckdb:data/first.duckdb", cloud_urls[target]
    stripe_recipe(purelink_cli, ws, "pay", api, first)
    loaded = run_recipe(purelink_cli, ws, "pay", api)
    out = purelink_cli(ws, "migrate", "--from", first, "--to", url).stdout
    assert "counts and checksums equal" in out, out
    src, dst = open_store(first, root=ws), open_store(url)
    for name in (*TABLES, "_purelink.tables"):
        assert checksum(src.table(name, arrow=True)) == checksum(dst.table(name, arrow=True)), name
    state = dst.table("_purelink.state", arrow=True)
    assert sorted(set(state.column("stream").to_pylist())) == ["charges", "customers"]

    stripe_recipe(purelink_cli, ws, "pay", api, url, "--update")
    new = create_customer(api, "moved@example.com")
    done = run_recipe(purelink_cli, ws, "pay", api)
    # the state moved with the rows: no history reloaded, only the new customer (and the lookback's)
    assert 1 <= done["streams"]["customers"]["records"] < 20, done["streams"]
    assert done["streams"]["charges"]["records"] < loaded["streams"]["charges"]["records"]
    ids = dst.table("stripe.customers", arrow=True).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == CUSTOMERS + 1 and new in ids
    statuses = dst.table("_purelink.executions", arrow=True).column("status").to_pylist()
    assert sorted(statuses) == ["success", "success"]


def test_a_container_asked_for_a_bigquery_recipe_is_refused_with_what_to_do(tmp_path, purelink_cli):
    # Nothing is contacted before the refusal: the endpoint need not answer.
    ws = tmp_path / "ws"
    purelink_cli(ws, "recipes", "new", "pay_bq", "--source", "stripe", "--streams", "customers", "--base-url",
                 "http://127.0.0.1:9/v1", "--destination", "bigquery://p/d?endpoint=http://127.0.0.1:9",
                 env={"STRIPE_API_KEY": "sk_test_unused"})
    done = purelink_cli(ws, "recipes", "run", "pay_bq", "--executor", "docker", ok=False,
                        env={"STRIPE_API_KEY": "sk_test_unused"})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "cannot run in a container" in done.stderr and "--executor local" in done.stderr, done.stderr
