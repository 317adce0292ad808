"""A run SIGKILLed mid-load, then run again, leaves each store (DuckDB, PostgreSQL) with the same
rows as an uninterrupted run: nothing lost, nothing doubled."""

from __future__ import annotations

import random
import signal
import subprocess
import sys

import pytest

from purelink.sandbox import stripe_data
from purelink.storage import open as open_store
from purelink.storage.checksum import checksum
from tests.storage.stores import METADATA, difference, run_recipe, stripe_recipe

CUSTOMERS = 600


def kill_after_pages(module, env: dict, pages: int) -> bool:
    """Start the generated module, SIGKILL it once `pages` pages were read; True if killed mid-run."""
    proc = subprocess.Popen([sys.executable, str(module)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True, env=env)
    seen = 0
    for line in proc.stdout:
        if '"event":"page"' in line:
            seen += 1
            if seen == pages:
                break
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    return killed


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_sigkill_mid_run_then_rerun_equals_a_clean_run(kind, tmp_path, sandbox_factory, postgres, secrets_env,
                                                       env_password, purelink_cli):
    api = sandbox_factory(customers=CUSTOMERS, latency_ms=15)
    ws = tmp_path / "ws"
    stripe_recipe(purelink_cli, ws, "clean", api, "duckdb:data/clean.duckdb")
    run_recipe(purelink_cli, ws, "clean", api)
    url = "duckdb:data/crashed.duckdb" if kind == "duckdb" else postgres.url(postgres.create_database("crashed"))
    stripe_recipe(purelink_cli, ws, "crashed", api, url)
    env = {**secrets_env, "STRIPE_API_KEY": api.api_key}
    rng = random.Random(11)
    kills = sum(kill_after_pages(ws / "pipelines" / "crashed.py", env, rng.randint(1, 4)) for _ in range(4))
    assert kills >= 3, "the runs finished before they could be killed; slow the sandbox down"
    run_recipe(purelink_cli, ws, "crashed", api)

    clean, crashed = open_store("duckdb:data/clean.duckdb", root=ws), open_store(url, root=ws)
    truth = stripe_data.dataset(0, CUSTOMERS)
    for stream in ("customers", "charges"):
        a, b = clean.table(f"stripe.{stream}", arrow=True), crashed.table(f"stripe.{stream}", arrow=True)
        ids = b.column("id").to_pylist()
        assert len(ids) == len(set(ids)) == len(truth[stream]), stream
        assert checksum(a, exclude=METADATA) == checksum(b, exclude=METADATA), difference(a, b)
    statuses = crashed.query("SELECT status FROM _purelink.executions")["status"].tolist()
    assert "success" in statuses and "running" not in statuses
