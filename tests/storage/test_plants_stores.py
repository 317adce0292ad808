"""The three-plant PostgreSQL job (examples/manufacturing, with the library's recipes/manufacturing)
into a PostgreSQL store and, by URL, into a DuckDB store: the same rows per table (count and
checksum), then an incremental run moving exactly the re-inspected rows in both."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from purelink.storage import open as open_store
from purelink.storage.checksum import checksum
from tests.storage.stores import METADATA, difference

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "manufacturing"
RECIPE = ROOT / "recipes" / "manufacturing" / "recipe.yaml"
ROWS = {"refills": 100, "bodies": 100, "springs": 150}


@pytest.mark.slow
def test_three_plants_into_postgres_and_duckdb_stores(tmp_path, postgres, secrets_env, env_password, purelink_cli):
    env = {**secrets_env, "PGHOST": postgres.host, "PGPORT": str(postgres.port), "PGUSER": postgres.user,
           "PGPASSWORD": postgres.password}
    for name in ("REFILLS", "BODIES", "SPRINGS", "WAREHOUSE"):  # every plant a database of one server
        env.update({f"{name}_HOST": postgres.host, f"{name}_PORT": str(postgres.port),
                    f"{name}_PASSWORD": postgres.password})

    def example(*args: str) -> str:
        done = subprocess.run([sys.executable, str(EXAMPLE / "run.py"), *args], check=False, capture_output=True,
                              text=True, env=env, timeout=300, stdin=subprocess.DEVNULL, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    example("setup")
    recipe = re.sub(r"\$\{(\w+)\}", lambda m: env[m[1]], RECIPE.read_text())
    duck_url = "duckdb:data/plants.duckdb?schema=raw"
    as_duckdb = re.sub(r"destination:\n(  .*\n)+", f"destination:\n  url: {duck_url}\n  airbyte_metadata: true\n",
                       recipe)
    workspaces = {"pg": (tmp_path / "pg", recipe), "duck": (tmp_path / "duck", as_duckdb)}
    for ws, text in workspaces.values():
        (ws / "recipes").mkdir(parents=True)
        (ws / "recipes" / "manufacturing_v1.yaml").write_text(text)

    def run_all() -> dict:
        out = {}
        for name, (ws, _) in workspaces.items():
            done = purelink_cli(ws, "recipes", "run", "manufacturing", "--format", "json", env=env)
            out[name] = json.loads(done.stdout.strip().splitlines()[-1])
            assert out[name]["status"] == "success", done.stdout + done.stderr
        return out

    first = run_all()
    for done in first.values():
        assert {s: r["records"] for s, r in done["streams"].items()} == {
            f"{p}/public.production": n for p, n in ROWS.items()}
    stores = {"pg": open_store(f"postgresql://{postgres.user}@{postgres.host}:{postgres.port}/warehouse"),
              "duck": open_store(duck_url, root=workspaces["duck"][0])}

    def compare() -> None:
        for plant, n in ROWS.items():
            a, b = (stores[s].table(f"raw.{plant}_production", arrow=True) for s in ("pg", "duck"))
            assert a.num_rows == b.num_rows == n
            assert checksum(a, exclude=METADATA) == checksum(b, exclude=METADATA), difference(a, b)

    compare()
    example("touch", "10")
    second = run_all()
    for done in second.values():
        assert done["streams"]["springs/public.production"]["records"] == 10
        assert done["streams"]["refills/public.production"]["records"] == 0
    compare()
