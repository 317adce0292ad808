"""Fixtures for the stores: the `purelink` command run as a user does, in a workspace; for the
cloud stores, the BigQuery emulator and an S3 server (moto), each started once per session from its
own cached venv, and runs driven into any destination by tests/storage/drive.py.

A fixture skips only when the tool's venv cannot be built here (no registry reachable), and says so;
any other start-up failure fails the tests.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVE = Path(__file__).parent / "drive.py"
EXAMPLE = ROOT / "examples" / "manufacturing"
PLANTS = ("refills", "bodies", "springs")


def _start(script: str) -> dict[str, str]:
    out = subprocess.run(["bash", str(ROOT / "scripts" / script), "start"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=900, check=False)
    if out.returncode != 0:
        if "pip" in out.stderr or "venv" in out.stderr:
            pytest.skip(f"{script} could not build its venv here (no package registry?): {out.stderr[-400:]}")
        pytest.fail(f"{script} failed: {out.stderr[-2000:]}")
    pairs = (line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines() if line.startswith("export "))
    return {k: v.strip("'") for k, v in pairs}


@pytest.fixture(scope="session")
def bq_emulator() -> str:
    env = _start("bq-emulator.sh")
    yield env["BQ_EMULATOR_URL"]
    subprocess.run(["bash", str(ROOT / "scripts" / "bq-emulator.sh"), "stop", env["BQ_EMULATOR_PID"]], check=False)


@pytest.fixture(scope="session")
def s3_server() -> str:
    env = _start("moto-up.sh")
    yield env["S3_ENDPOINT_URL"]
    subprocess.run(["bash", str(ROOT / "scripts" / "moto-up.sh"), "stop", env["MOTO_PID"]], check=False)


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """A fresh bucket on the S3 server."""
    name = f"lake-{uuid.uuid4().hex[:8]}"
    httpx.put(f"{s3_server}/{name}").raise_for_status()
    return name


def iceberg_spec(tmp_path: Path, *, s3: str | None = None, bucket: str | None = None) -> dict:
    """The destination part of a drive.py spec: a local warehouse, or the same catalog with files on S3."""
    folder = tmp_path / "warehouse"
    folder.mkdir(exist_ok=True)
    props = {"uri": f"sqlite:///{folder / 'catalog.db'}", "warehouse": folder.as_uri()}
    if s3:
        props.update({"warehouse": f"s3://{bucket}/wh", "s3.endpoint": s3, "s3.access-key-id": "test",
                      "s3.secret-access-key": "test", "s3.region": "us-east-1"})
    return {"kind": "iceberg", "properties": props}


class Driver:
    """Runs drive.py as a user runs a pipeline: a subprocess, the key in its environment."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path, self.env = tmp_path, env

    def _spec(self, spec: dict) -> Path:
        path = self.tmp_path / f"spec-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(spec))
        return path

    def run(self, spec: dict) -> dict:
        done = subprocess.run([sys.executable, str(DRIVE), str(self._spec(spec))], capture_output=True, text=True,
                              env=self.env, timeout=600, stdin=subprocess.DEVNULL, check=False)
        events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return events[-1]

    def popen(self, spec: dict) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(DRIVE), str(self._spec(spec))], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=self.env, stdin=subprocess.DEVNULL)


def killed_runs(driver: Driver, spec: dict, targets=(1, 3, 6)) -> int:
    """Runs of `spec` each SIGKILLed once it has committed `target` pages; how many were killed
    before they could finish on their own."""
    import signal

    kills = 0
    for target in targets:
        proc = driver.popen(spec)
        pages = 0
        for line in proc.stdout:
            pages += '"event":"page"' in line
            if pages >= target:
                break
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        proc.stdout.close()
    return kills


@pytest.fixture
def driver(tmp_path) -> Driver:
    return Driver(tmp_path, {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})


@pytest.fixture(scope="module")
def plants(postgres_servers) -> dict:
    """Three PostgreSQL servers, each with its plant's `production` table (examples/manufacturing)."""
    servers = dict(zip((*PLANTS, "warehouse"), postgres_servers(4), strict=True))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, server in servers.items():
        env.update({f"{name.upper()}_HOST": server.host, f"{name.upper()}_PORT": str(server.port),
                    f"{name.upper()}_PASSWORD": server.password})
    done = subprocess.run([sys.executable, str(EXAMPLE / "run.py"), "setup"], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return {"servers": servers, "env": env}


def plants_spec(plants: dict, destination: dict) -> dict:
    servers = [{"name": name, "url": plants["servers"][name].url(name), "password": f"{name.upper()}_PASSWORD"}
               for name in PLANTS]
    return {"source": "plants", "servers": servers, "destination": destination}


def touch(plants: dict, n: int) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE / "run.py"), "touch", str(n)], env=plants["env"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


# -- comparing what landed ---------------------------------------------------------------------

def _value(v):
    """One value in a form every store agrees on: instants as epoch microseconds, numbers as
    floats, JSON text parsed and re-dumped with sorted keys."""
    import numpy as np
    import pandas as pd

    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (pd.Timedelta, timedelta)):  # intervals land as ISO 8601 text where there is no such type
        seconds = f"{pd.Timedelta(v).seconds + pd.Timedelta(v).microseconds / 1e6:.9f}".rstrip("0").rstrip(".")
        return f"P0M{pd.Timedelta(v).days}DT{seconds}S"
    if isinstance(v, date) and not isinstance(v, datetime):
        v = datetime(v.year, v.month, v.day)
    if isinstance(v, (pd.Timestamp, datetime)):
        stamp = pd.Timestamp(v)
        return int((stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).value // 1000)
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, Decimal, np.integer, np.floating)):
        return round(float(v), 6)
    if isinstance(v, (dict, list, np.ndarray)):
        return json.dumps(v.tolist() if isinstance(v, np.ndarray) else v, sort_keys=True, default=str)
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return json.dumps(json.loads(v), sort_keys=True)
        except ValueError:
            return v
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def fingerprint(df, key: str = "id") -> tuple[int, int, str]:
    """(rows, distinct keys, md5 over every value of every loaded column in key order); the
    metadata columns differ by run and are left out."""
    columns = sorted(c for c in df.columns if not c.startswith(("_purelink", "_airbyte")))
    rows = df[columns].astype(object).sort_values(key).itertuples(index=False, name=None)
    digest = hashlib.md5(usedforsecurity=False)
    for row in rows:
        digest.update(json.dumps([_value(v) for v in row]).encode())
    return len(df), df[key].nunique(), digest.hexdigest()


def differences(df, other, key: str = "id") -> dict:
    """The loaded columns whose values differ between two frames, with the first differing pair:
    the message of a failed comparison."""
    out = {}
    a, b = df.sort_values(key).reset_index(drop=True), other.sort_values(key).reset_index(drop=True)
    for column in sorted(c for c in set(a.columns) | set(b.columns) if not c.startswith(("_purelink", "_airbyte"))):
        if column not in a.columns or column not in b.columns:
            out[column] = "missing on one side"
            continue
        pairs = [(x, y) for x, y in zip(map(_value, a[column].astype(object)), map(_value, b[column].astype(object)))
                 if x != y]
        if pairs:
            out[column] = pairs[0]
    return out


def duckdb_frame(path: Path, table: str):
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table}").df()
    finally:
        con.close()


@pytest.fixture(scope="session")
def kit():
    """The helpers above, for test modules (importlib mode does not let them import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(fingerprint=fingerprint, differences=differences, duckdb_frame=duckdb_frame, killed_runs=killed_runs, iceberg_spec=iceberg_spec,
                           plants_spec=plants_spec, touch=touch)


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
