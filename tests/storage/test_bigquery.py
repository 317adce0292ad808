"""BigQuery (the bqemulator, reached by the real google-cloud-bigquery client) holds the same rows as
DuckDB after the same runs: the sandbox's Stripe customers + charges and the three-plant PostgreSQL
job; re-runs move only new rows, a SIGKILL mid-run loses and doubles nothing, and
BigQueryStore("project.dataset").table("stripe.customers") reads back DuckDB's DataFrame."""

from __future__ import annotations

import uuid

import pytest

from purelink.sandbox import serve
from purelink.storage.bigquery import BigQueryStore
from tests.storage.stores import add_customers, stripe_spec

pytest.importorskip("google.cloud.bigquery")

STRIPE = ("customers", "charges")
PROJECT = "purelink-test"


@pytest.fixture
def stripe_api():
    # One per test: customers a test adds stay within the next test's lookback hour otherwise.
    with serve(seed=0, customers=300) as api:
        yield api


@pytest.fixture
def dataset(bq_emulator) -> dict:
    """A fresh dataset on the emulator (created by the first run that writes to it)."""
    return {"kind": "bigquery", "project": PROJECT, "dataset": f"ds_{uuid.uuid4().hex[:8]}", "endpoint": bq_emulator}


def store_of(dataset: dict) -> BigQueryStore:
    return BigQueryStore(f"{dataset['project']}.{dataset['dataset']}", endpoint=dataset["endpoint"])




@pytest.mark.slow
def test_stripe_lands_as_in_duckdb_then_only_new_rows_move(kit, stripe_api, dataset, driver, tmp_path):
    driver.env["STRIPE_API_KEY"] = stripe_api.api_key
    reference = tmp_path / "reference.duckdb"
    driver.run(stripe_spec(stripe_api, {"kind": "duckdb", "path": str(reference)}))
    assert driver.run(stripe_spec(stripe_api, dataset))["status"] == "success"
    store = store_of(dataset)
    for table in (f"stripe.{t}" for t in STRIPE):
        landed, expected = store.table(table), kit.duckdb_frame(reference, table)
        assert kit.fingerprint(landed) == kit.fingerprint(expected), (table, kit.differences(landed, expected))

    # The same DataFrame as DuckDB's: same columns, same rows, same values.
    customers, duck = store.table("stripe.customers"), kit.duckdb_frame(reference, "stripe.customers")
    loaded = [c for c in duck.columns if not c.startswith("_purelink")]
    assert sorted(c for c in customers.columns if not c.startswith("_purelink")) == sorted(loaded)
    assert kit.differences(customers[loaded], duck[loaded]) == {}

    new = add_customers(stripe_api, 3)
    finished = driver.run(stripe_spec(stripe_api, dataset))
    # the lookback re-reads the last hour: only the new customers are that recent
    assert finished["streams"]["customers"]["records"] == 3
    customers = store.table("stripe.customers")
    assert (len(customers), customers["id"].nunique()) == (len(duck) + 3, len(duck) + 3)
    assert new <= set(customers["id"])
    listed = store.tables().set_index(["schema", "table"])["rows"].to_dict()
    assert listed[("stripe", "customers")] == len(duck) + 3
    runs = store.table("_purelink.executions")
    assert sorted(runs["status"]) == ["success", "success"]
    state = store.query(f"SELECT DISTINCT stream FROM `{PROJECT}.{dataset['dataset']}._purelink__state`")
    assert sorted(state["stream"]) == ["charges", "customers"]
    assert not [t for t in store.client().list_tables(f"{PROJECT}.{dataset['dataset']}")
                if t.table_id.startswith("_purelink_load_")], "staging tables left behind"


@pytest.mark.slow
def test_sigkill_mid_run_loses_and_doubles_nothing(kit, dataset, driver, tmp_path):
    # Latency keeps each run long enough for the kills to land while pages are being committed.
    with serve(seed=0, customers=600, latency_ms=15) as api:
        driver.env["STRIPE_API_KEY"] = api.api_key
        reference = tmp_path / "reference.duckdb"
        driver.run(stripe_spec(api, {"kind": "duckdb", "path": str(reference)}, rate_limit=40))
        kills = kit.killed_runs(driver, stripe_spec(api, dataset, rate_limit=40))
        assert kills >= 2, "the runs finished before they could be killed"
        assert driver.run(stripe_spec(api, dataset, rate_limit=40))["status"] == "success"
    store = store_of(dataset)
    for table in (f"stripe.{t}" for t in STRIPE):
        landed, expected = store.table(table), kit.duckdb_frame(reference, table)
        assert kit.fingerprint(landed) == kit.fingerprint(expected), (table, kit.differences(landed, expected))
    statuses = set(store.table("_purelink.executions")["status"])
    assert "success" in statuses and "running" not in statuses  # killed runs are marked interrupted


@pytest.mark.slow
def test_three_plants_land_as_in_duckdb_then_only_touched_rows_move(kit, plants, dataset, driver, tmp_path):
    driver.env.update(plants["env"])
    reference = tmp_path / "reference.duckdb"
    driver.run(kit.plants_spec(plants, {"kind": "duckdb", "path": str(reference)}))
    assert driver.run(kit.plants_spec(plants, dataset))["status"] == "success"
    store = store_of(dataset)
    tables = [f"raw.{p}_production" for p in ("refills", "bodies", "springs")]
    for table in tables:
        landed, expected = store.table(table), kit.duckdb_frame(reference, table)
        assert kit.fingerprint(landed) == kit.fingerprint(expected), (table, kit.differences(landed, expected))
    kit.touch(plants, 10)
    finished = driver.run(kit.plants_spec(plants, dataset))
    moved = {name: s.get("records") for name, s in finished["streams"].items()}
    assert sum(moved.values()) == 10, moved
    driver.run(kit.plants_spec(plants, {"kind": "duckdb", "path": str(reference)}))
    for table in tables:
        assert kit.fingerprint(store.table(table)) == kit.fingerprint(kit.duckdb_frame(reference, table)), table


def test_a_wrong_endpoint_is_a_sentence_with_guidance():
    from purelink.errors import PurelinkError

    store = BigQueryStore("purelink-test.nowhere", endpoint="http://127.0.0.1:9")
    with pytest.raises(PurelinkError) as failure:
        store.query("SELECT 1")
    assert "Cannot reach BigQuery at http://127.0.0.1:9" in failure.value.message
    assert "endpoint" in failure.value.guidance
