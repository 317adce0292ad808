"""A run whose chosen checks reject rows is `success with N rejected` (CLI, executions row), the
rejected rows are a warning with the query that shows them, and nothing is lost: loaded +
rejected is exactly the source."""

from __future__ import annotations

import json
import os
import subprocess

import duckdb
import yaml

from purelink.engine import Engine
from purelink.recipes import parse_recipe
from purelink.sandbox import stripe_data
from tests.cli.test_causes import CLI, log_events


def test_rejected_rows_are_reported_with_their_query(tmp_path, small_sandbox):
    ws = tmp_path / "ws"
    ws.mkdir()
    Engine(ws).recipes.save(parse_recipe(yaml.safe_dump({
        "name": "custs", "source": {"name": "stripe", "base_url": small_sandbox.stripe_base_url},
        "streams": [{"name": "customers", "columns": ["id", "email"], "max_bad_share": 0.5,
                     "validations": [{"kind": "email", "field": "email"}]}], "executor": "local",
    }), origin="the test"))
    env = {**os.environ, "STRIPE_API_KEY": small_sandbox.api_key}
    run = subprocess.run([*CLI, "recipes", "run", "custs"], check=False, cwd=ws, env=env, capture_output=True,
                         text=True, stdin=subprocess.DEVNULL, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    db = ws / "data" / "purelink.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    try:
        loaded = {r[0] for r in con.execute("SELECT id FROM stripe.customers").fetchall()}
        rejected = [json.loads(r[0])["id"] for r in con.execute(
            "SELECT record FROM _purelink.dead_letters WHERE stream = 'customers'").fetchall()]
        status, dead = con.execute("SELECT status, dead_letters FROM _purelink.executions").fetchone()
    finally:
        con.close()
    truth = {r.id for r in stripe_data.dataset(0, 150)["customers"]}
    assert rejected and len(rejected) == len(set(rejected))
    assert loaded | set(rejected) == truth and not loaded & set(rejected)
    n = len(rejected)
    assert f"status:      success with {n} rejected" in output
    assert status == f"success with {n} rejected" and dead == n
    finished = [e for e in log_events(ws) if e["event"] == "finished"][-1]
    assert finished["outcome"] == f"success with {n} rejected" and finished["warnings"] >= 1
    warning = next(e for e in log_events(ws) if e["event"] == "warning" and "rejected" in e["message"])
    query = finished["streams"]["customers"]["rejected_query"]
    assert query in warning["message"] and f'purelink inspect --query "{query}"' in output
    shown = subprocess.run([*CLI, "inspect", "--query", query, "--format", "json"], check=True, cwd=ws, env=env,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert sorted(json.loads(r["record"])["id"] if isinstance(r["record"], str) else r["record"]["id"]
                  for r in json.loads(shown.stdout)) == sorted(rejected)
