"""A database pipeline in a container: the ADBC driver is in the runtime image, and a database on
this machine is reached through the host gateway (the server listens beyond loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bridged_postgres(require_postgres):
    out = subprocess.run(["bash", str(ROOT / "scripts" / "postgres-up.sh")],  # its own folder: initdb runs as postgres
                         capture_output=True, text=True, env={**os.environ, "PURELINK_PG_LISTEN": "*"},
                         check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines()
               if line.startswith("export "))
    env = {k: v.strip("'") for k, v in env.items()}
    psql = ["psql", "-h", "127.0.0.1", "-p", env["PGPORT"], "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
    pg_env = {**os.environ, "PGPASSWORD": env["PGPASSWORD"]}
    subprocess.run([*psql, "-c", "CREATE DATABASE plant"], env=pg_env, check=True, capture_output=True)
    table = ("CREATE TABLE items (id int PRIMARY KEY, name text, weight numeric(8,2), "
             "updated_at timestamptz DEFAULT now()); "
             "INSERT INTO items (id, name, weight) SELECT g, 'item ' || g, g * 1.25 FROM generate_series(1, 500) g")
    subprocess.run([*psql, "-d", "plant", "-c", table], env=pg_env, check=True, capture_output=True)
    yield env
    subprocess.run(["bash", str(ROOT / "scripts" / "postgres-up.sh"), "stop", env["PURELINK_PG_DIR"]],
                   capture_output=True, check=False, timeout=60)


def test_a_postgres_table_loads_through_a_container(tmp_path, bridged_postgres, docker_engine, base_image,
                                                    runtime_image):
    ws = tmp_path / "ws"
    ws.mkdir()
    env = {**os.environ, "PGPASSWORD": bridged_postgres["PGPASSWORD"], "PURELINK_BASE_IMAGE": base_image}

    def purelink(*args):
        proc = subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=ws, capture_output=True,
                              text=True, env=env, timeout=600, check=False, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    url = f"postgresql://postgres@127.0.0.1:{bridged_postgres['PGPORT']}/plant"
    purelink("recipes", "new", "plant", "--source", "postgres", "--streams", "public.items", "--base-url", url,
             "--executor", "docker")
    finished = json.loads(purelink("recipes", "run", "plant", "--executor", "docker", "--format", "json")
                          .strip().splitlines()[-1])
    assert finished["status"] == "success", finished
    tables = json.loads(purelink("inspect", "--tables", "--format", "json"))
    loaded = [t for t in tables if t["table"] == "items"]
    assert loaded and loaded[0]["rows"] == 500
    assert bridged_postgres["PGPASSWORD"] not in json.dumps(finished)

    # into a PostgreSQL warehouse from the container: the run says where the rows went (the warehouse's
    # URL), not the DuckDB file's path a container run shows otherwise
    subprocess.run(["psql", "-h", "127.0.0.1", "-p", bridged_postgres["PGPORT"], "-U", "postgres", "-c",
                    "CREATE DATABASE wh"], env={**os.environ, "PGPASSWORD": bridged_postgres["PGPASSWORD"]},
                   check=True, capture_output=True)
    env["WAREHOUSE_PASSWORD"] = bridged_postgres["PGPASSWORD"]
    warehouse = f"postgresql://postgres@127.0.0.1:{bridged_postgres['PGPORT']}/wh"
    purelink("recipes", "new", "plant_wh", "--source", "postgres", "--streams", "public.items", "--base-url", url,
             "--destination", warehouse, "--executor", "docker")
    finished = json.loads(purelink("recipes", "run", "plant_wh", "--executor", "docker", "--format", "json")
                          .strip().splitlines()[-1])
    assert finished["status"] == "success", finished
    assert finished["destination"].startswith("postgresql://") and "duckdb" not in finished["destination"]
    landed = subprocess.run(["psql", "-h", "127.0.0.1", "-p", bridged_postgres["PGPORT"], "-U", "postgres", "-d", "wh",
                             "-tAc", "SELECT count(*), count(DISTINCT id) FROM raw.items"],
                            env={**os.environ, "PGPASSWORD": bridged_postgres["PGPASSWORD"]},
                            check=True, capture_output=True, text=True).stdout.strip()
    assert landed == "500|500"


def test_a_password_only_in_libpqs_password_file_reaches_the_container(tmp_path, bridged_postgres, docker_engine,
                                                                       base_image, runtime_image):
    """The password is in PGPASSFILE (as ~/.pgpass), for 127.0.0.1: the container sees neither the
    file nor that address, yet the run loads, because the host reads the line and sends the value
    as a secret on the container's stdin."""
    ws = tmp_path / "ws"
    ws.mkdir()
    password, port = bridged_postgres["PGPASSWORD"], bridged_postgres["PGPORT"]
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"# other servers first\n127.0.0.1:{port}:other:postgres:not-this-one\n"
                        f"127.0.0.1:{port}:plant:postgres:{password}\n")
    passfile.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "PGPASSFILE")}
    env.update(PGPASSFILE=str(passfile), PURELINK_BASE_IMAGE=base_image)

    def purelink(*args):
        return subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=ws, capture_output=True,
                              text=True, env=env, timeout=600, check=False, stdin=subprocess.DEVNULL)

    url = f"postgresql://postgres@127.0.0.1:{port}/plant"
    assert purelink("recipes", "new", "plant", "--source", "postgres", "--streams", "public.items", "--base-url",
                    url, "--executor", "docker").returncode == 0
    done = purelink("recipes", "run", "plant", "--executor", "docker", "--format", "json")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["records"] == 500
    rows = json.loads(purelink("inspect", "--query", "SELECT count(*) AS n, count(DISTINCT id) AS d, "
                                                     "sum(weight) AS w FROM items", "--format", "json").stdout)
    assert rows == [{"n": 500, "d": 500, "w": "156562.50"}]  # numeric(8,2) exact: 1.25 * (1 + ... + 500)
    written = "".join(p.read_text(errors="ignore") for p in ws.rglob("*") if p.is_file() and p.suffix != ".duckdb")
    assert password not in written + done.stdout + done.stderr

    passfile.chmod(0o644)  # libpq ignores a password file others may read, and so does purelink
    refused = purelink("recipes", "run", "plant", "--executor", "docker", "--full-refresh")
    assert refused.returncode != 0
    assert "asks for a password, and the secret PGPASSWORD holds none" in refused.stdout + refused.stderr
