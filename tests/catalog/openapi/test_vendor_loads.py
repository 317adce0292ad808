"""Each imported connector loads the sandbox's matching protocol completely, through the commands a
user types: `purelink sources import` into a workspace, then `recipes new --workspace WS` from
another directory (it must find the imported connector), then `recipes run`. What landed is
compared with the sandbox's own records: rows == distinct keys == the sandbox's truth."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from purelink.sandbox.github import REPO_ID
from purelink.sandbox.stripe_data import dataset as stripe_dataset

DOCS = Path(__file__).parents[2] / "fixtures" / "openapi"
CLI = [sys.executable, "-m", "purelink.cli"]


def purelink(*args: str, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})}, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def load(tmp_path: Path, doc: Path, name: str, base_url: str, key: str, streams: list[str],
         answers: list[str], variables: list[str]) -> duckdb.DuckDBPyConnection:
    ws, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    ws.mkdir()
    elsewhere.mkdir()
    sets = [a for answer in answers for a in ("--set", answer)]
    out = purelink("sources", "import", str(doc), "--name", name, "--base-url", base_url, "--streams", ",".join(streams),
                   *sets, "--accept-guesses", "--yes", "--workspace", str(ws), cwd=elsewhere)
    assert f"saved {ws.resolve() / 'connectors' / (name + '.yaml')}" in out
    var_args = [a for v in variables for a in ("--var", v)]
    env = {f"{name.upper()}_API_KEY": key}
    # from another directory: --workspace alone must find the imported connector
    purelink("recipes", "new", f"{name}_all", "--source", name, "--streams", ",".join(streams), *var_args,
             "--executor", "local", "--workspace", str(ws), cwd=elsewhere, env=env)
    purelink("recipes", "run", f"{name}_all", "--executor", "local", "--full-refresh", "--workspace", str(ws),
             cwd=elsewhere, env=env)
    return duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True)


def landed(con, table: str, key: str = "id") -> tuple[int, set]:
    count, keys = con.execute(f"SELECT count(*), list(DISTINCT {key}::VARCHAR) FROM {table}").fetchone()
    return count, set(keys)


def protocol(sandbox, name: str):
    return next(p for p in sandbox.app.protocols if p.name == name)


@pytest.mark.slow
def test_imported_stripe_loads_every_record(small_sandbox, tmp_path):
    source = protocol(small_sandbox, "stripe").source(small_sandbox.url)
    streams = ["customers", "charges", "subscriptions", "invoices"]
    con = load(tmp_path, DOCS / "stripe" / "stripe.json.gz", "stripe_oas", source["base_url"], source["api_key"],
               streams, [], [])
    truth = stripe_dataset(0, 150)
    try:
        for stream in streams:
            count, keys = landed(con, f"stripe_oas.{stream}")
            assert count == len(keys) == len(truth[stream]), stream
            assert keys == {r.id for r in truth[stream]}, stream
    finally:
        con.close()


@pytest.mark.slow
def test_imported_github_loads_issues_and_pulls_of_every_state(small_sandbox, tmp_path):
    source = protocol(small_sandbox, "github").source(small_sandbox.url)
    con = load(tmp_path, DOCS / "github" / "github.json.gz", "gh", source["base_url"], source["api_key"],
               ["issues", "pulls"], ["auth={style: bearer, env: GH_API_KEY}"],
               [f"owner={source['owner']}", f"repo={source['repo']}"])
    content = protocol(small_sandbox, "github").data()["content"][REPO_ID]
    try:
        for stream, rows in (("issues", content["issues"]), ("pulls", content["pulls"])):
            count, keys = landed(con, f"gh.{stream}")
            assert count == len(keys) == len(rows), stream
            assert keys == {str(fields["id"]) for fields, _ in rows}, stream
            states = {s for (s,) in con.execute(f"SELECT DISTINCT state FROM gh.{stream}").fetchall()}
            assert states == {fields["state"] for fields, _ in rows}  # closed ones too, not only open
    finally:
        con.close()


@pytest.mark.slow
def test_imported_hubspot_shaped_connector_loads_contacts_and_companies(small_sandbox, tmp_path):
    source = protocol(small_sandbox, "hubspot").source(small_sandbox.url)
    con = load(tmp_path, DOCS / "hubspot" / "hubspot_like.json", "crm", source["base_url"], source["api_key"],
               ["contacts", "companies"], [], [])
    data = protocol(small_sandbox, "hubspot").data()
    try:
        for stream in ("contacts", "companies"):
            # archived=false, the question the import asked: the live records
            live = {r["id"] for r in data[stream] if not r["archived"]}
            count, keys = landed(con, f"crm.{stream}")
            assert count == len(keys) == len(live) and keys == live, stream
    finally:
        con.close()


@pytest.mark.slow
def test_imported_asana_loads_projects_and_users_from_an_asana_shaped_server(tmp_path):
    from tests.catalog.openapi.asana_server import TOKEN, AsanaServer

    with AsanaServer(n=250) as server:
        con = load(tmp_path, DOCS / "asana" / "asana.yaml.gz", "asana", server.url, TOKEN,
                   ["projects", "users"], [], [])
        try:
            for stream in ("projects", "users"):
                count, keys = landed(con, f"asana.{stream}", key="gid")
                truth = {r["gid"] for r in server.data[stream]}
                assert count == len(keys) == len(truth) and keys == truth, stream
        finally:
            con.close()
    # pages of 100, the schema's maximum: 3 + 1 requests for the data, plus the checks before the run
    assert server.requests <= 12
