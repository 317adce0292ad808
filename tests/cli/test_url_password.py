"""A password written inside --base-url never lands in the recipe or the module: it moves to
the vault (and the user is told), and the run reads it from there."""

from __future__ import annotations

import os
import subprocess
from urllib.parse import quote

import duckdb

from tests.cli.test_causes import CLI


def test_a_password_in_the_base_url_moves_to_the_vault(tmp_path, postgres):
    source = postgres.create_database("src")
    postgres.execute(source, "CREATE TABLE t (id int PRIMARY KEY, v text)",
                     "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 250) g")
    ws = tmp_path / "ws"
    ws.mkdir()
    url = f"postgresql://{postgres.user}:{quote(postgres.password, safe='')}@{postgres.host}:{postgres.port}/{source}"
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "WAREHOUSE_PASSWORD")}
    new = subprocess.run([*CLI, "recipes", "new", "plant", "--source", "postgres", "--streams", "t",
                          "--base-url", url, "--executor", "local"], check=False, cwd=ws, env=env,
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert new.returncode == 0, new.stderr
    assert "now in the vault as 'plant_password'" in new.stderr
    assert postgres.password not in new.stdout + new.stderr
    for path in [*ws.rglob("*.yaml"), *ws.rglob("*.py")]:
        assert postgres.password not in path.read_text(), path
    listed = subprocess.run([*CLI, "secrets", "list"], check=True, cwd=ws, env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60)
    assert "plant_password" in listed.stdout and postgres.password not in listed.stdout
    run = subprocess.run([*CLI, "recipes", "run", "plant"], check=False, cwd=ws, env=env, capture_output=True,
                         text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert postgres.password not in run.stdout + run.stderr
    for path in ws.rglob("*.log"):
        assert postgres.password not in path.read_text(), path
    con = duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True)
    try:
        landed = dict(con.execute("SELECT id, v FROM postgres.t").fetchall())
    finally:
        con.close()
    assert landed == dict(postgres.query(source, "SELECT id, v FROM t"))
