"""Iceberg tables (pyiceberg, SQLite catalog; files on disk or on moto's S3 server) hold the same
rows as DuckDB after the same runs: the sandbox's Stripe customers + charges and the three-plant
PostgreSQL job; re-runs move only new rows, and a SIGKILL mid-run loses and doubles nothing."""

from __future__ import annotations

import pytest

from purelink.sandbox import serve
from purelink.storage.iceberg import IcebergStore
from tests.storage.stores import add_customers, stripe_spec

pytest.importorskip("pyiceberg")

STRIPE = ("customers", "charges")


@pytest.fixture
def stripe_api():
    # One per test: customers a test adds stay within the next test's lookback hour otherwise.
    with serve(seed=0, customers=300) as api:
        yield api



def iceberg_frames(spec: dict, tables: list[str]) -> dict:
    from purelink.runtime.destinations.iceberg import load_catalog

    catalog = load_catalog(spec["properties"])
    return {t: catalog.load_table(tuple(t.split("."))).scan().to_arrow().to_pandas() for t in tables}



@pytest.mark.slow
@pytest.mark.parametrize("files", ["local", "s3"])
def test_stripe_lands_as_in_duckdb_then_only_new_rows_move(kit, files, stripe_api, driver, tmp_path, request):
    driver.env["STRIPE_API_KEY"] = stripe_api.api_key
    s3 = {}
    if files == "s3":
        s3 = {"s3": request.getfixturevalue("s3_server"), "bucket": request.getfixturevalue("s3_bucket")}
    lake = kit.iceberg_spec(tmp_path, **s3)
    reference = tmp_path / "reference.duckdb"
    driver.run(stripe_spec(stripe_api, {"kind": "duckdb", "path": str(reference)}))
    finished = driver.run(stripe_spec(stripe_api, lake))
    assert finished["status"] == "success"
    tables = [f"stripe.{t}" for t in STRIPE]
    landed = iceberg_frames(lake, tables)
    for table in tables:
        expected = kit.fingerprint(kit.duckdb_frame(reference, table))
        assert kit.fingerprint(landed[table]) == expected, table
        assert expected[0] == expected[1] > 0

    new = add_customers(stripe_api, 3)
    finished = driver.run(stripe_spec(stripe_api, lake))
    # the lookback re-reads the last hour: only the new customers are that recent
    assert finished["streams"]["customers"]["records"] == 3
    customers = iceberg_frames(lake, ["stripe.customers"])["stripe.customers"]
    before = kit.fingerprint(kit.duckdb_frame(reference, "stripe.customers"))
    assert (len(customers), customers["id"].nunique()) == (before[0] + 3, before[0] + 3)
    assert new <= set(customers["id"])

    store = IcebergStore(f"iceberg://{tmp_path / 'warehouse'}") if files == "local" else None
    if store is not None:
        listed = store.tables().set_index(["schema", "table"])["rows"].to_dict()
        assert listed[("stripe", "customers")] == len(customers)
        assert kit.fingerprint(store.table("stripe.customers")) == kit.fingerprint(customers)
        counted = store.query("SELECT count(*) AS n, count(DISTINCT id) AS d FROM stripe.customers")
        assert counted.iloc[0].tolist() == [len(customers), len(customers)]
        runs = store.table("_purelink.executions")
        assert sorted(runs["status"]) == ["success", "success"]


@pytest.mark.slow
@pytest.mark.parametrize("files", ["local", "s3"])
def test_sigkill_mid_run_loses_and_doubles_nothing(kit, files, driver, tmp_path, request):
    s3 = {}
    if files == "s3":
        s3 = {"s3": request.getfixturevalue("s3_server"), "bucket": request.getfixturevalue("s3_bucket")}
    # Latency keeps each run long enough for the kills to land while pages are being committed.
    with serve(seed=0, customers=600, latency_ms=15) as api:
        driver.env["STRIPE_API_KEY"] = api.api_key
        lake = kit.iceberg_spec(tmp_path, **s3)
        reference = tmp_path / "reference.duckdb"
        driver.run(stripe_spec(api, {"kind": "duckdb", "path": str(reference)}, rate_limit=40))
        kills = kit.killed_runs(driver, stripe_spec(api, lake, rate_limit=40))
        assert kills >= 2, "the runs finished before they could be killed"
        assert driver.run(stripe_spec(api, lake, rate_limit=40))["status"] == "success"
    tables = [f"stripe.{t}" for t in STRIPE]
    landed = iceberg_frames(lake, [*tables, "_purelink.executions"])
    for table in tables:
        assert kit.fingerprint(landed[table]) == kit.fingerprint(kit.duckdb_frame(reference, table)), table
    statuses = set(landed["_purelink.executions"]["status"])
    assert "success" in statuses and "running" not in statuses  # killed runs are marked interrupted


@pytest.mark.slow
@pytest.mark.parametrize("files", ["local", "s3"])
def test_three_plants_land_as_in_duckdb_then_only_touched_rows_move(kit, files, plants, driver, tmp_path, request):
    driver.env.update(plants["env"])
    s3 = {}
    if files == "s3":
        s3 = {"s3": request.getfixturevalue("s3_server"), "bucket": request.getfixturevalue("s3_bucket")}
    lake = kit.iceberg_spec(tmp_path, **s3)
    reference = tmp_path / "reference.duckdb"
    driver.run(kit.plants_spec(plants, {"kind": "duckdb", "path": str(reference)}))
    finished = driver.run(kit.plants_spec(plants, lake))
    assert finished["status"] == "success"
    tables = [f"raw.{p}_production" for p in ("refills", "bodies", "springs")]
    landed = iceberg_frames(lake, tables)
    for table in tables:
        reference_rows = kit.duckdb_frame(reference, table)
        assert kit.fingerprint(landed[table]) == kit.fingerprint(reference_rows), \
            (table, kit.differences(landed[table], reference_rows))
    kit.touch(plants, 10)
    finished = driver.run(kit.plants_spec(plants, lake))
    moved = {name: s.get("records") for name, s in finished["streams"].items()}
    assert sum(moved.values()) == 10, moved
    driver.run(kit.plants_spec(plants, {"kind": "duckdb", "path": str(reference)}))
    landed = iceberg_frames(lake, tables)
    for table in tables:
        assert kit.fingerprint(landed[table]) == kit.fingerprint(kit.duckdb_frame(reference, table)), table
