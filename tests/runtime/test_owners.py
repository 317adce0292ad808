"""REST pipelines record who owns each table, keep another API's same-named stream apart, and
number rebuilds with `_airbyte_generation_id` as Airbyte's destinations v2 do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd

from purelink.engine import Engine
from purelink.recipes import parse_recipe
from tests.conftest import duckdb_rows


def truth(api) -> dict[str, str | None]:
    """Every customer the API serves (id -> email), paged as any client would."""
    found: dict[str, str | None] = {}
    params: dict = {"limit": 100}
    with httpx.Client(base_url=api.stripe_base_url, headers={"Authorization": f"Bearer {api.api_key}"}) as client:
        while True:
            body = client.get("/customers", params=params).raise_for_status().json()
            found.update({c["id"]: c.get("email") for c in body["data"]})
            if not body["has_more"]:
                return found
            params["starting_after"] = body["data"][-1]["id"]


def module(workspace: Path, name: str, api) -> Path:
    recipe = parse_recipe(f"name: {name}\nsource: {{name: stripe, base_url: '{api.stripe_base_url}'}}\n"
                          "streams: [{name: customers}]\nrequirements: {history_start: '2020-01-01'}\n"
                          "destination: {kind: duckdb, airbyte_metadata: true}\n")
    engine = Engine(workspace)
    return engine.generate(engine.recipes.save(recipe))


def run(path: Path, api, *args: str) -> str:
    done = subprocess.run([sys.executable, str(path), *args], cwd=path.parents[1], capture_output=True, text=True,
                          env={**os.environ, "STRIPE_API_KEY": api.api_key, "PYTHONUNBUFFERED": "1"},
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_rest_tables_have_owners_and_generations(sandbox_factory, tmp_path):
    first, second = sandbox_factory(customers=300, seed=1), sandbox_factory(customers=200, seed=2)
    db = tmp_path / "data" / "purelink.duckdb"
    a, b = module(tmp_path, "shop_a", first), module(tmp_path, "shop_b", second)
    run(a, first)
    out = run(b, second)
    other = f"127_0_0_1_{second.stripe_base_url.split(':')[-1].split('/')[0]}_v1_customers"
    assert f"stripe.{other}" in out  # the run says where the second API's customers went

    owners = duckdb_rows(db, "SELECT table_name, pipeline, source, source_table FROM _purelink.tables ORDER BY pipeline")
    assert owners == [("customers", "shop_a", first.stripe_base_url.rstrip("/"), "/customers"),
                      (other, "shop_b", second.stripe_base_url.rstrip("/"), "/customers")]
    for api, table in ((first, "customers"), (second, other)):
        expected = truth(api)
        assert dict(duckdb_rows(db, f'SELECT id, email FROM stripe."{table}"')) == expected
        assert duckdb_rows(db, f'SELECT count(*), count(DISTINCT id) FROM stripe."{table}"')[0] == (len(expected),) * 2
    # Read back as a user reads it (the notebook's result, the demo's figures): each recipe's own rows.
    engine = Engine(tmp_path)
    for name, api in (("shop_a", first), ("shop_b", second)):
        frame = engine.tables(name)["customers"]
        emails = [None if pd.isna(e) else e for e in frame["email"]]  # NaN: a NULL as pandas reads it
        assert dict(zip(frame["id"], emails, strict=True)) == truth(api) and len(frame) == len(truth(api))

    # Generation 0 on the first load, unchanged by an incremental run, one more per full refresh.
    def generations() -> list[int]:
        return [g for (g,) in duckdb_rows(db, "SELECT DISTINCT _airbyte_generation_id FROM stripe.customers")]

    assert generations() == [0]
    run(a, first)
    assert generations() == [0]
    run(a, first, "--full-refresh")
    assert generations() == [1]
    run(a, first, "--full-refresh")
    assert generations() == [2]
    assert dict(duckdb_rows(db, "SELECT id, email FROM stripe.customers")) == truth(first)
    assert duckdb_rows(db, "SELECT count(*) FROM _purelink.tables")[0][0] == 2  # owners recorded once
