"""A generated module started by hand finds its key as `purelink recipes run` does: the vault
(through the `purelink.credentials` entry point) or the source's variable."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def plugin_path(tmp_path: Path) -> str:
    """A folder whose dist-info declares the entry points pyproject.toml declares, for an
    editable install made before they were added (importlib.metadata reads it like any other)."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    info = tmp_path / "plugins" / "purelink_dev_entry_points-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: purelink-dev-entry-points\nVersion: 0\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in declared.items()))
    return str(tmp_path / "plugins")


def test_pyproject_registers_the_vault_plugin():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared["purelink.credentials"]["vault"] == "purelink.cli.credentials:lookup"


@pytest.fixture
def module_env(tmp_path, private_home):
    env = {k: v for k, v in os.environ.items() if k not in ("STRIPE_API_KEY", "PURELINK_SECRETS_FILE")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), plugin_path(tmp_path)])
    env["PURELINK_HOME"] = str(private_home)
    return env


def cli(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(check=False, args=[sys.executable, "-m", "purelink.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def first_ids(sandbox, n: int) -> list[str]:
    page = httpx.get(f"{sandbox.stripe_base_url}/customers", params={"limit": 100},
                     auth=(sandbox.api_key, "")).json()["data"]
    return [c["id"] for c in page]


@pytest.mark.parametrize("where", ["vault", "source variable"])
def test_module_runs_on_its_own_with_a_stored_key(tmp_path, sandbox, module_env, where):
    ws = tmp_path / "ws"
    ws.mkdir()
    cli("recipes", "new", "custs", "--source", "stripe", "--streams", "customers", "--credential", "stripe",
        "--base-url", sandbox.stripe_base_url, "--executor", "local", cwd=ws, env=module_env)
    env = dict(module_env)
    if where == "vault":
        cli("secrets", "set", "stripe", "--from-env", "DEMO_KEY", cwd=ws, env={**env, "DEMO_KEY": sandbox.api_key})
    else:
        env["STRIPE_API_KEY"] = sandbox.api_key
    proc = subprocess.run(check=False, args=[sys.executable, "pipelines/custs.py", "--sample", "5"], cwd=ws, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert sandbox.api_key not in proc.stdout + proc.stderr
    with duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True) as con:
        landed = [r[0] for r in con.execute("SELECT id FROM stripe.customers").fetchall()]
    source_ids = set(first_ids(sandbox, 100))
    assert len(landed) == 5 and len(set(landed)) == 5 and set(landed) <= source_ids


def test_module_without_a_key_says_where_to_put_it(tmp_path, sandbox, module_env):
    ws = tmp_path / "ws"
    ws.mkdir()
    cli("recipes", "new", "custs", "--source", "stripe", "--streams", "customers", "--credential", "stripe",
        "--base-url", sandbox.stripe_base_url, "--executor", "local", cwd=ws, env=module_env)
    proc = subprocess.run(check=False, args=[sys.executable, "pipelines/custs.py", "--sample", "5"], cwd=ws, env=module_env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert "STRIPE_API_KEY" in out and "purelink secrets set stripe" in out
