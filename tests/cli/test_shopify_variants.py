"""Shopify product variants as a user loads them: `purelink recipes new --source shopify --streams
product_variants`, then `recipes run`, against the sandbox over HTTP (subprocesses). Every variant
lands once, products with more than 100 variants included (the REST products list cuts those)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb

from purelink.sandbox import shopify
from purelink.sandbox.shopify_graphql import REST_EMBED, all_variants

CLI = [sys.executable, "-m", "purelink.cli"]
CUSTOMERS = 600


def purelink(*args: str, cwd: Path, env: dict) -> str:
    done = subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, **env}, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_recipes_new_and_run_load_every_variant(sandbox_factory, tmp_path):
    api = sandbox_factory(customers=CUSTOMERS)
    served = api.sources()["shopify"]
    env = {"SHOPIFY_ACCESS_TOKEN": served["api_key"]}
    purelink("recipes", "new", "variants", "--source", "shopify", "--streams", "product_variants",
             "--base-url", served["base_url"], "--var", "shop=purelink-sandbox", "--executor", "local",
             "--history-start", "2020-01-01", cwd=tmp_path, env=env)
    purelink("recipes", "run", "variants", "--executor", "local", cwd=tmp_path, env=env)

    truth = all_variants(shopify.dataset(0, CUSTOMERS)["products"])
    con = duckdb.connect(str(tmp_path / "data" / "purelink.duckdb"), read_only=True)
    count, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM shopify.product_variants").fetchone()
    assert count == distinct == len(truth)
    ids = {i for (i,) in con.execute("SELECT id FROM shopify.product_variants").fetchall()}
    assert ids == {v["admin_graphql_api_id"] for v in truth}
    products = con.execute("SELECT product FROM shopify.product_variants").fetchall()
    loaded = Counter(json.loads(p)["id"] for (p,) in products)
    big = {f"gid://shopify/Product/{pid}": n for pid, n in Counter(v["product_id"] for v in truth).items()
           if n > REST_EMBED}
    assert len(big) == 3 and {k: loaded[k] for k in big} == big
