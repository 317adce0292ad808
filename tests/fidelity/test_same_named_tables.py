"""Two recipes reading a table of the same name on two servers, into the same DuckDB schema: the
second is kept apart under a name that says where its rows come from (not refused, not merged),
the run says so, `_purelink.tables` records both owners, and names stay put on later runs."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest


@pytest.fixture(scope="module")
def plants(postgres_servers) -> dict:
    north, south = postgres_servers(2)
    for server, name, rows in ((north, "north", 120), (south, "south", 80)):
        con = server.connect(autocommit=True)
        con.cursor().execute(f"CREATE DATABASE {name}")
        con.close()
        # Overlapping ids on purpose: merged on `id`, the two sources would overwrite each other.
        server.execute(name, "CREATE TABLE production (id int PRIMARY KEY, line text, units int, "
                             "updated_at timestamptz NOT NULL DEFAULT '2020-01-01')",
                       f"INSERT INTO production (id, line, units) SELECT g, '{name}-' || (g % 4), g * 7 "
                       f"FROM generate_series(1, {rows}) g")
    return {"north": north, "south": south}


def cli(*args: str, cwd, env) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def landed(path, table: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT id, line, units FROM postgres.{table} ORDER BY id").fetchall()
    finally:
        con.close()


def test_same_named_tables_from_two_servers_are_kept_apart(plants, tmp_path, secrets_env):
    env = dict(secrets_env)
    for name, server in plants.items():
        env[f"{name.upper()}_PASSWORD"] = server.password
    for name, server in plants.items():
        cli("recipes", "new", f"{name}_plant", "--source", "postgres", "--streams", "public.production",
            "--base-url", server.url(name), "--credential", f"{name.upper()}_PASSWORD", "--executor", "local",
            cwd=tmp_path, env=env)
    cli("recipes", "run", "north_plant", cwd=tmp_path, env=env)
    south = cli("recipes", "run", "south_plant", cwd=tmp_path, env=env)
    # The databases differ, so the database names the second table.
    assert "postgres.south_production" in south.stdout + south.stderr, south.stdout + south.stderr

    db = tmp_path / "data" / "purelink.duckdb"
    for name, table in (("north", "production"), ("south", "south_production")):
        truth = plants[name].query(name, "SELECT id, line, units FROM production ORDER BY id")
        assert landed(db, table) == truth  # value by value: nothing merged, nothing lost
    con = duckdb.connect(str(db), read_only=True)
    try:
        owners = con.execute("SELECT table_name, pipeline, source, source_table FROM _purelink.tables "
                             "WHERE schema_name = 'postgres' ORDER BY table_name").fetchall()
    finally:
        con.close()
    assert owners == [
        ("production", "north_plant", f"{plants['north'].host}:{plants['north'].port}/north", "public.production"),
        ("south_production", "south_plant", f"{plants['south'].host}:{plants['south'].port}/south",
         "public.production")]

    # Later runs find the same tables again: changed rows land where the first run put them.
    plants["south"].execute("south", "UPDATE production SET units = -1, updated_at = now() WHERE id <= 5")
    again = json.loads(cli("recipes", "run", "south_plant", "--format", "json", cwd=tmp_path, env=env)
                       .stdout.splitlines()[-1])
    assert again["streams"]["public.production"]["records"] == 5
    cli("recipes", "run", "north_plant", cwd=tmp_path, env=env)
    for name, table in (("north", "production"), ("south", "south_production")):
        truth = plants[name].query(name, "SELECT id, line, units FROM production ORDER BY id")
        assert landed(db, table) == truth
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM _purelink.tables").fetchone()[0] == 2
    finally:
        con.close()
