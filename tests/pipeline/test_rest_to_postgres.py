"""A REST recipe whose destination is a PostgreSQL warehouse loads into the warehouse (not into
DuckDB), its password by the secret's name only; compared with the sandbox's own records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from purelink.engine import Engine
from purelink.recipes import parse_recipe
from purelink.sandbox import stripe_data


def test_sandbox_customers_land_in_the_postgres_warehouse(tmp_path, small_sandbox, postgres, secrets_env):
    warehouse = postgres.create_database("wh")
    ws = tmp_path / "ws"
    ws.mkdir()
    engine = Engine(ws)
    recipe = parse_recipe(yaml.safe_dump({
        "name": "custs", "source": {"name": "stripe", "base_url": small_sandbox.stripe_base_url},
        "streams": [{"name": "customers", "columns": ["id", "email", "created"]}], "executor": "local",
        "destination": {"kind": "postgres", "url": postgres.url(warehouse), "airbyte_metadata": True},
    }), origin="the test")
    engine.recipes.save(recipe)
    module = engine.generate("custs")
    text = module.read_text()
    assert "PostgresDestination(" in text and '"WAREHOUSE_PASSWORD"' in text
    assert postgres.password not in text
    env = {**os.environ, "STRIPE_API_KEY": small_sandbox.api_key, "WAREHOUSE_PASSWORD": postgres.password}
    for _ in range(2):  # a second run merges: still one row per customer
        run = subprocess.run([sys.executable, "-m", "purelink.cli", "recipes", "run", "custs", "--format", "json"],
                             check=False, cwd=ws, env=env, capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=300)
        finished = json.loads(run.stdout.strip().splitlines()[-1])
        assert finished["status"] == "success", run.stdout + run.stderr
        assert finished["destination"].startswith("postgresql://")
    truth = {r.id: r.obj for r in stripe_data.dataset(0, 150)["customers"]}
    rows = postgres.query(warehouse, "SELECT id, email, created, _airbyte_raw_id FROM stripe.customers")
    assert len(rows) == len({r[0] for r in rows}) == len(truth) == 150
    # `created` is a Unix time in the spec: the warehouse holds the exact instant, as timestamptz
    assert {r[0]: (r[1], r[2]) for r in rows} == {
        i: (o["email"], datetime.fromtimestamp(o["created"], UTC)) for i, o in truth.items()}
    assert all(r[3] for r in rows)
    executions = postgres.query(warehouse, "SELECT status, records FROM _purelink.executions ORDER BY started_at")
    assert [e[0] for e in executions] == ["success", "success"] and executions[0][1] == 150
    assert not Path(ws / "data" / "purelink.duckdb").exists()  # nothing went to DuckDB instead
