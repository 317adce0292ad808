"""Item 9 of issue 13: `purelink recipes new ... --workspace WS` run from another directory finds the
workspace's own connectors (connectors/NAME.yaml), and the recipe it makes loads every record."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import yaml

from tests.runtime.hostile.conftest import spec


def test_recipes_new_with_workspace_from_another_folder_finds_its_connectors(hostile, tmp_path):
    api = hostile()
    ws, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    (ws / "connectors").mkdir(parents=True)
    elsewhere.mkdir()
    (ws / "connectors" / "nasty.yaml").write_text(yaml.safe_dump({**spec(api.base_url), "name": "nasty"}))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "purelink.cli", *args, "--workspace", str(ws)], cwd=elsewhere,
                              env=env, capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done

    made = cli("recipes", "new", "nasty_items", "--source", "nasty", "--streams", "cursor_items",
               "--executor", "local", "--history-start", "2020-01-01")
    assert "No source named" not in made.stdout + made.stderr
    assert (ws / "recipes" / "nasty_items_v1.yaml").exists() and not (elsewhere / "recipes").exists()
    finished = json.loads(cli("recipes", "run", "nasty_items", "--format", "json").stdout.splitlines()[-1])
    assert finished["status"] == "success", finished
    truth = api.truth()
    con = duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True)
    try:
        ids = {i for (i,) in con.execute("SELECT id FROM nasty.cursor_items").fetchall()}
    finally:
        con.close()
    assert ids == set(truth) and finished["records"] == len(truth)
