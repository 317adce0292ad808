"""A real PostgreSQL server for the database tests, started once per session by scripts/postgres-up.sh.

Skipped only when the server binaries are absent and CI is not set: in CI a missing server is a
failure, not a skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "postgres-up.sh"


@dataclass
class Server:
    host: str
    port: int
    user: str
    password: str
    directory: str

    def url(self, database: str = "postgres") -> str:
        """Connection URL without the password, as recipes hold it."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres", autocommit: bool = False):
        from adbc_driver_postgresql import dbapi

        from purelink.runtime.pg import connection_uri

        return dbapi.connect(connection_uri(self.url(database), self.password, database), autocommit=autocommit)

    def execute(self, database: str, *statements: str) -> None:
        con = self.connect(database)
        cur = con.cursor()
        for statement in statements:
            cur.execute(statement)
        con.commit()
        con.close()

    def query(self, database: str, sql: str) -> list[tuple]:
        con = self.connect(database)
        cur = con.cursor()
        cur.execute(sql)
        rows = cur.fetchall()
        con.close()
        return rows

    def create_database(self, prefix: str = "db") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        con = self.connect(autocommit=True)
        con.cursor().execute(f'CREATE DATABASE "{name}"')
        con.close()
        return name


@pytest.fixture(scope="session")
def postgres(tmp_path_factory, require_postgres) -> Server:
    out = subprocess.run(["bash", str(SCRIPT), "start"], check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                         timeout=120)
    if out.returncode != 0:
        pytest.fail(f"postgres-up.sh failed: {out.stderr}")
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines()
               if line.startswith("export "))
    env = {k: v.strip("'") for k, v in env.items()}
    server = Server(env["PGHOST"], int(env["PGPORT"]), env["PGUSER"], env["PGPASSWORD"], env["PURELINK_PG_DIR"])
    yield server
    subprocess.run(["bash", str(SCRIPT), "stop", server.directory], check=False, capture_output=True, timeout=120)


@pytest.fixture
def db(postgres) -> str:
    """A fresh, empty source database for one test."""
    return postgres.create_database("src")


@pytest.fixture
def secrets_env(postgres, monkeypatch):
    """Passwords where generated pipelines read them (environment variables by secret name)."""
    monkeypatch.setenv("PGPASSWORD", postgres.password)
    monkeypatch.setenv("WAREHOUSE_PASSWORD", postgres.password)
    return {**os.environ, "PGPASSWORD": postgres.password, "WAREHOUSE_PASSWORD": postgres.password,
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def run_module(secrets_env):
    """Run a pipeline module as a user does: a subprocess, passwords in its environment."""

    def run(path: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(path), *args], check=False, capture_output=True, text=True,
                              env=secrets_env, timeout=300, stdin=subprocess.DEVNULL)

    return run
