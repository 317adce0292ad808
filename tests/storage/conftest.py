"""Running the `purelink` command as a user does, in a workspace, against real stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def purelink_cli(tmp_path, secrets_env):
    """`purelink_cli(ws, *args, env=..., ok=True)`: the command in a subprocess, PYTHONPATH on this copy."""

    def run(ws: Path, *args: str, env: dict | None = None, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "purelink.cli", *args, "--workspace", str(ws)], check=False,
                              capture_output=True, text=True, env={**secrets_env, **(env or {})}, timeout=600,
                              stdin=subprocess.DEVNULL, cwd=tmp_path)
        if ok:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    return run


@pytest.fixture
def env_password(postgres, monkeypatch):
    """The warehouse password where stores read it in this process (the vault is empty here)."""
    monkeypatch.setenv("WAREHOUSE_PASSWORD", postgres.password)
    return os.environ
