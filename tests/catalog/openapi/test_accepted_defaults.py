"""A path variable's value accepted at import time (`--accept-guesses`, Enter at the prompt, the
wizard, el-agent) is kept as the connector's default: `recipes new` then needs no `--var`, and
the recipe loads what the server holds under that value. A variable the document gives no value
for is still asked for when the recipe is made."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.catalog.openapi.test_vendor_loads import DOCS, landed, purelink

CLI = [sys.executable, "-m", "purelink.cli"]


@pytest.mark.slow
def test_an_accepted_variable_is_the_connectors_default_and_the_recipe_loads_with_it(tmp_path):
    import duckdb

    from tests.catalog.openapi.asana_server import TOKEN, AsanaServer

    with AsanaServer(n=250) as server:
        out = purelink("sources", "import", str(DOCS / "asana" / "asana.yaml.gz"), "--name", "asana",
                       "--base-url", server.url, "--streams", "projects_tasks", "--accept-guesses", "--yes",
                       cwd=tmp_path)
        assert "variables.project_gid" in out.split("accepted as shown:")[1]
        saved = yaml.safe_load((tmp_path / "connectors" / "asana.yaml").read_text())
        assert saved["variables"]["project_gid"]["default"] == "1331"
        assert "--var" not in out.split("next:")[1]  # nothing left to give on every `recipes new`
        env = {"ASANA_API_KEY": TOKEN}
        purelink("recipes", "new", "asana_tasks", "--source", "asana", "--streams", "projects_tasks",
                 "--executor", "local", cwd=tmp_path, env=env)
        purelink("recipes", "run", "asana_tasks", "--executor", "local", cwd=tmp_path, env=env)
        truth = {r["gid"] for r in server.data["projects/1331/tasks"]}
    con = duckdb.connect(str(tmp_path / "data" / "purelink.duckdb"), read_only=True)
    try:
        count, keys = landed(con, "asana.projects_tasks", key="gid")
    finally:
        con.close()
    assert count == len(keys) == len(truth) and keys == truth


def test_a_variable_without_a_value_is_not_given_a_default(tmp_path):
    out = purelink("sources", "import", str(DOCS / "hubspot" / "hubspot_like.json"), "--name", "crm",
                   "--streams", "objects", "--accept-guesses", "--yes", cwd=tmp_path)
    saved = yaml.safe_load((tmp_path / "connectors" / "crm.yaml").read_text())
    assert "default" not in saved["variables"]["objectType"]
    assert "--var objectType=..." in out.split("next:")[1]
    done = subprocess.run([*CLI, "recipes", "new", "crm_objects", "--source", "crm", "--streams", "objects",
                           "--executor", "local"], cwd=tmp_path, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, check=False)
    assert done.returncode != 0 and "--var objectType=VALUE" in done.stderr and "Traceback" not in done.stderr
