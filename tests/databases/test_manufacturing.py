"""The three-plant job as the product spec describes it: three PostgreSQL servers, each with a table
`production`, into a fourth server's `raw` schema with ONE command; every table compared with its
source by checksum; then exactly the changed rows; then a recipe that would merge another server
into an owned table is refused before it writes a row."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "manufacturing"
RECIPE = ROOT / "recipes" / "manufacturing" / "recipe.yaml"  # the library recipe the example runs
PLANTS = ("refills", "bodies", "springs")
ROWS = {"refills": 100, "bodies": 100, "springs": 150}
AIRBYTE = {"_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta", "_airbyte_generation_id",
           "_airbyte_ab_id", "_airbyte_emitted_at"}


@pytest.fixture(scope="module")
def servers(postgres_servers) -> dict:
    return dict(zip((*PLANTS, "warehouse"), postgres_servers(4), strict=True))


@pytest.fixture
def job(servers, tmp_path, secrets_env):
    env = dict(secrets_env)
    for name, server in servers.items():
        env.update({f"{name.upper()}_HOST": server.host, f"{name.upper()}_PORT": str(server.port),
                    f"{name.upper()}_PASSWORD": server.password})
    for var in ("PGPASSWORD", "WAREHOUSE_PASSWORD", "PGHOST", "PGPORT"):
        env.pop(var, None)  # every password comes from its own server's variable
    env["WAREHOUSE_PASSWORD"] = servers["warehouse"].password
    ws = tmp_path / "ws"

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, *args], check=False, capture_output=True, text=True, env=env,
                              timeout=300, stdin=subprocess.DEVNULL, cwd=tmp_path)
        if ok:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def example(*args: str) -> str:
        return run(str(EXAMPLE / "run.py"), *args, "--workspace", str(ws)).stdout

    def purelink(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        return run("-m", "purelink.cli", *args, "--workspace", str(ws), ok=ok)

    def save(name: str, text: str) -> None:
        from purelink.engine import Engine
        from purelink.recipes import parse_recipe

        text = re.sub(r"\$\{(\w+)\}", lambda m: env[m[1]], text)
        recipe = parse_recipe(text.replace("name: manufacturing", f"name: {name}", 1))
        Engine(ws).recipes.save(recipe)

    return example, purelink, save


def checksum(server, database: str, table: str, columns: list[tuple[str, str]]) -> tuple:
    """Row count, distinct ids and an md5 over every value of `columns`, in id order."""
    parts = [f"extract(epoch FROM {c})::text" if kind == "timestamp with time zone" else f"{c}::text"
             for c, kind in columns]
    sql = (f"SELECT count(*), count(DISTINCT id), md5(string_agg(concat_ws('|', {', '.join(parts)}), ',' "
           f"ORDER BY id)) FROM {table}")
    return server.query(database, sql)[0]


def source_columns(server, database: str) -> list[tuple[str, str]]:
    return server.query(database, "SELECT column_name, data_type FROM information_schema.columns "
                                  "WHERE table_name = 'production' ORDER BY ordinal_position")


@pytest.mark.slow
def test_three_servers_one_command_then_changes_then_a_refused_merge(job, servers):
    example, purelink, save = job
    out = example("setup")
    for plant, n in ROWS.items():
        assert re.search(rf"setup\s+{plant}\s+{n} rows in production", out)
    save("manufacturing", RECIPE.read_text())

    finished = json.loads(purelink("recipes", "run", "manufacturing", "--format", "json").stdout.splitlines()[-1])
    assert finished["status"] == "success", finished
    assert finished["records"] == 350
    assert {s: r["records"] for s, r in finished["streams"].items()} == {
        f"{p}/public.production": n for p, n in ROWS.items()}

    warehouse = servers["warehouse"]
    tables = warehouse.query("warehouse", "SELECT table_name FROM information_schema.tables "
                                          "WHERE table_schema = 'raw' ORDER BY 1")
    assert [t for (t,) in tables] == sorted(f"{p}_production" for p in PLANTS)
    for plant in PLANTS:
        columns = source_columns(servers[plant], plant)
        source = checksum(servers[plant], plant, "production", columns)
        landed = checksum(warehouse, "warehouse", f"raw.{plant}_production", columns)
        assert source[0] == ROWS[plant] and landed == source, plant
        present = {c for (c, _) in warehouse.query("warehouse", "SELECT column_name, 1 FROM information_schema."
                                                   f"columns WHERE table_name = '{plant}_production'")}
        assert AIRBYTE <= present
        assert warehouse.query("warehouse", f"SELECT count(*) FROM raw.{plant}_production WHERE "
                                            "_airbyte_raw_id IS NULL OR _airbyte_meta IS NULL "
                                            "OR _airbyte_generation_id <> 0") == [(0,)]
    owners = warehouse.query("warehouse", "SELECT table_name, pipeline, source, source_table FROM _purelink.tables "
                                          "ORDER BY 1")
    assert owners == [(f"{p}_production", "manufacturing", f"{servers[p].host}:{servers[p].port}/{p}",
                       "public.production") for p in sorted(PLANTS)]

    out = example("check")
    for plant, n in ROWS.items():
        assert re.search(rf"{plant}\s+{n}\s+raw\.{plant}_production\s+all 6 Airbyte columns", out)
    assert re.search(r"total\s+350", out)
    assert "pass rate per production line" in out and "springs / SP-coiler-3" in out
    assert "pass rate per material" in out and "bodies / aluminium" in out

    before = dict(warehouse.query("warehouse", "SELECT id, _airbyte_raw_id FROM raw.springs_production"))
    example("touch", "10")
    finished = json.loads(purelink("recipes", "run", "manufacturing", "--format", "json").stdout.splitlines()[-1])
    assert finished["streams"]["springs/public.production"]["records"] == 10
    assert finished["streams"]["refills/public.production"]["records"] == 0
    after = dict(warehouse.query("warehouse", "SELECT id, _airbyte_raw_id FROM raw.springs_production"))
    assert {i for i in after if after[i] != before[i]} == set(range(1, 11))
    columns = source_columns(servers["springs"], "springs")
    assert checksum(warehouse, "warehouse", "raw.springs_production", columns) == \
        checksum(servers["springs"], "springs", "production", columns)

    # Another recipe reads the bodies server's `production` into the table the refills plant owns.
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["source"]["servers"] = [s for s in recipe["source"]["servers"] if s["name"] == "bodies"]
    recipe["streams"] = [{"name": "public.production", "server": "bodies", "into": "refills_production"}]
    intruder = yaml.safe_dump(recipe, sort_keys=False)
    save("intruder", intruder)
    refills = checksum(warehouse, "warehouse", "raw.refills_production", source_columns(servers["refills"], "refills"))
    done = purelink("recipes", "run", "intruder", ok=False)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert "refills_production" in text and "already holds" in text and "into" in text, text
    assert "Traceback" not in text
    assert checksum(warehouse, "warehouse", "raw.refills_production",
                    source_columns(servers["refills"], "refills")) == refills
    row = warehouse.query("warehouse", "SELECT status, error_message FROM _purelink.executions "
                                       "WHERE pipeline = 'intruder'")
    assert row[0][0] == "failed" and "already holds" in row[0][1]
