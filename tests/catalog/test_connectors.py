"""Every catalog connector: a complete spec, and data loaded end to end from the sandbox through a recipe.

The end-to-end flows are what a user types: `purelink recipes new ... --base-url <sandbox> --credential
ENV`, a `--sample 5` test run, then `purelink recipes run ... --executor local`; each connector in its
own workspace against its own sandbox, the four at once so the suite stays quick even under each
API's own rate limit (GitHub's 1.38 requests/s).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest

from purelink.catalog.spec import ConnectorSpec, catalog, get_spec
from purelink.errors import SourceError
from purelink.pipeline.codegen import PAGINATORS
from purelink.runtime import paginators
from purelink.sandbox import github, hubspot, salesforce_data, serve, shopify
from purelink.sandbox.shopify_graphql import all_variants

REST = ["stripe", "salesforce", "shopify", "github", "hubspot"]
NEW = ["salesforce", "shopify", "github", "hubspot"]
# customers per sandbox: Salesforce needs more than one 2,000-record batch of contacts to page
SIZE = {"salesforce": 2100, "shopify": 300, "github": 300, "hubspot": 300}


def expected_rows(name: str, n: int) -> dict[str, int]:
    if name == "salesforce":
        data = salesforce_data.dataset(0, n)
        return {"accounts": len(data["Account"]), "contacts": len(data["Contact"]),
                "opportunities": len(data["Opportunity"]), "leads": len(data["Lead"])}
    if name == "shopify":
        data = shopify.dataset(0, n)
        return {**{k: len(v) for k, v in data.items()}, "product_variants": len(all_variants(data["products"]))}
    if name == "github":
        repo = github.dataset(0, n)["content"][github.REPO_ID]
        repos = len(github.dataset(0, n)["repos"])  # the sandbox's owner answers as user and as organisation
        return {"repositories": repos, "org_repositories": repos, "issues": len(repo["issues"]),
                "pull_requests": len(repo["pulls"]), "commits": len(repo["commits"])}
    return {k: sum(not r["archived"] for r in v) for k, v in hubspot.dataset(0, n).items()}


# -- the specs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REST)
def test_spec_is_complete(name):
    spec = get_spec(name)
    assert spec.title and spec.category and spec.description and spec.docs_url.startswith("https://")
    assert spec.auth.env and spec.auth.key_hint and re.compile(spec.auth.key_pattern)
    guide = spec.auth.guidance
    assert guide.dashboard_url.startswith("https://") and len(guide.steps) >= 3 and guide.test_vs_live
    assert spec.health_check is not None and spec.health_check.path.startswith("/")
    assert spec.rate_limit.requests_per_second and spec.rate_limit.notes
    assert 3 <= len(spec.streams) <= 5  # GitHub: user and organisation repositories apart
    for s in spec.streams:
        assert s.description and s.primary_key and s.cursor_field and s.path.startswith("/")
    # the pagination options are the runtime class's own keyword arguments
    cls = getattr(paginators, PAGINATORS[spec.pagination.style])
    cls(**(spec.pagination.model_extra or {}))


@pytest.mark.parametrize("name", NEW)
def test_the_sandbox_key_has_the_documented_shape(name):
    with serve(customers=1) as sb:
        key = sb.sources()[name]["api_key"]
    assert re.fullmatch(get_spec(name).auth.key_pattern, key)


def test_every_catalog_entry_loads():
    names = set(catalog())
    assert set(REST) <= names
    assert all(isinstance(s, ConnectorSpec) for s in catalog().values())


def test_placeholders_are_filled_from_the_recipe_or_defaults():
    gh = get_spec("github")
    assert gh.resolved().stream("issues").path == "/repos/octocat/Hello-World/issues"
    filled = gh.resolved({"owner": "my org", "repo": "data"})
    assert filled.stream("commits").path == "/repos/my%20org/data/commits"
    assert filled.health_check.path == "/repos/my%20org/data"
    with pytest.raises(SourceError, match="no setting named colour"):
        gh.resolved({"colour": "blue"})
    with pytest.raises(SourceError, match=r"needs a value for \{instance\}") as err:
        get_spec("salesforce").resolved()
    assert "--var instance=" in err.value.guidance
    assert get_spec("salesforce").resolved({"instance": "acme"}).base_url == \
        "https://acme.my.salesforce.com/services/data/v62.0"
    sandbox_url = "http://127.0.0.1:1/admin/api/2026-10"
    assert get_spec("shopify").resolved(base_url=sandbox_url).base_url == sandbox_url


def test_recipes_new_refuses_a_missing_setting(tmp_path, capsys):
    from purelink.cli import main

    code = main(["recipes", "--workspace", str(tmp_path), "new", "crm", "--source", "salesforce",
                 "--streams", "accounts"])
    assert code == 1 and "needs a value for {instance}" in capsys.readouterr().err
    assert not list(tmp_path.glob("recipes/*.yaml"))


# -- end to end through recipes, over HTTP ------------------------------------------------------------


def purelink(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=240, check=False)


def flow(name: str, root: Path) -> dict:
    """new -> sample run -> full run (-> a second, incremental run for Shopify); what each step said."""
    spec = get_spec(name)
    workspace = root / name
    workspace.mkdir()
    with serve(customers=SIZE[name]) as sb:
        source = sb.sources()[name]
        env = {**os.environ, spec.auth.env: source["api_key"], "PYTHONUNBUFFERED": "1"}
        streams = ",".join(s.name for s in spec.streams)
        extra = ["--var", f"owner={source['owner']}", "--var", f"repo={source['repo']}"] if name == "github" else []
        out: dict = {"workspace": workspace, "n": SIZE[name]}
        out["new"] = purelink("recipes", "new", f"{name}_all", "--source", name, "--streams", streams,
                              "--base-url", source["base_url"], "--credential", spec.auth.env, "--executor", "local",
                              *extra, cwd=workspace, env=env)
        out["sample"] = purelink("recipes", "run", f"{name}_all", "--sample", "5", "--format", "json",
                                 cwd=workspace, env=env)
        out["run"] = purelink("recipes", "run", f"{name}_all", "--executor", "local", "--format", "json",
                              cwd=workspace, env=env)
        if name == "shopify":
            out["rerun"] = purelink("recipes", "run", f"{name}_all", "--format", "json", cwd=workspace, env=env)
        if name == "hubspot":
            bad = {**env, spec.auth.env: source["api_key"][:-2] + "00"}
            out["bad_key"] = purelink("recipes", "run", f"{name}_all", "--format", "json", cwd=workspace, env=bad)
    return out


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    root = tmp_path_factory.mktemp("connectors")
    with ThreadPoolExecutor(max_workers=len(NEW)) as pool:
        futures = {name: pool.submit(flow, name, root) for name in NEW}
        return {name: f.result() for name, f in futures.items()}


def finished(proc: subprocess.CompletedProcess) -> dict:
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", NEW)
def test_connector_loads_every_stream_end_to_end(flows, name):
    result = flows[name]
    assert result["new"].returncode == 0, result["new"].stderr
    assert result["run"].returncode == 0, result["run"].stdout[-2000:] + result["run"].stderr[-2000:]
    done = finished(result["run"])
    assert done["status"] == "success" and done["errors"] == 0
    spec = get_spec(name)
    expected = expected_rows(name, result["n"])
    con = duckdb.connect(str(result["workspace"] / "data" / "purelink.duckdb"), read_only=True)
    try:
        for stream in spec.streams:
            key = stream.primary_key
            sql = f'SELECT count(*), count(DISTINCT "{key}") FROM {name}.{stream.name}'
            rows, distinct = con.execute(sql).fetchone()
            assert rows == distinct == expected[stream.name] > 0, stream.name
    finally:
        con.close()
    assert all(s["pages"] >= 1 for s in done["streams"].values())


@pytest.mark.parametrize("name", NEW)
def test_sample_run_passes_its_checklist(flows, name):
    proc = flows[name]["sample"]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    checks = {c["name"]: c["status"] for c in finished(proc)["checks"]}
    assert checks["credentials"] == checks["connectivity"] == checks["storage writes"] == "PASS"
    assert checks["sample records"] == "PASS"


def test_pagination_was_exercised(flows):
    pages = {name: finished(flows[name]["run"])["streams"] for name in NEW}
    assert pages["salesforce"]["contacts"]["pages"] == 2  # nextRecordsUrl followed
    assert pages["shopify"]["orders"]["pages"] == 2  # Link rel=next with page_info
    assert pages["github"]["issues"]["pages"] == 2  # Link rel=next by page number
    assert pages["hubspot"]["contacts"]["pages"] == 3  # paging.next.after


def test_github_recipe_keeps_its_settings_and_module_shows_the_paths(flows):
    workspace = flows["github"]["workspace"]
    recipe = (workspace / "recipes" / "github_all_v1.yaml").read_text()
    assert "owner: octocat" in recipe and "repo: Hello-World" in recipe
    module = (workspace / "pipelines" / "github_all.py").read_text()
    assert 'path="/repos/octocat/Hello-World/issues"' in module and "{owner}" not in module
    assert get_spec("github").auth.env not in recipe.replace("credential: GITHUB_TOKEN", "")


def test_a_second_shopify_run_reads_only_recent_changes(flows):
    first, again = finished(flows["shopify"]["run"]), finished(flows["shopify"]["rerun"])
    assert again["status"] == "success" and again["requests"] <= len(get_spec("shopify").streams) + 1
    assert again["records"] < first["records"] / 10
    con = duckdb.connect(str(flows["shopify"]["workspace"] / "data" / "purelink.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) - count(DISTINCT id) FROM shopify.customers").fetchone()[0] == 0
    finally:
        con.close()


def test_a_rejected_key_fails_the_run_with_a_sentence(flows):
    proc = flows["hubspot"]["bad_key"]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "rejected the key" in proc.stdout + proc.stderr and "Authentication credentials not found" in proc.stdout
    assert finished(proc)["requests"] <= len(get_spec("hubspot").streams)  # a 401 stops the run, no retries
