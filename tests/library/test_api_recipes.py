"""Every API recipe of the library, copied into an empty folder and run twice against the sandbox:
the rows each run moves are the README's, the keys that land are exactly the sandbox's, and the
second run adds nothing (no duplicates, only what the README says it re-reads)."""

from __future__ import annotations

import json

import pytest

from purelink.sandbox import github, hubspot, salesforce_data, shopify, stripe_data

SEED, CUSTOMERS = 0, 3421  # the `sandbox` fixture's (the default `purelink sandbox`)


def truth(stream: str) -> set:
    """The ids the sandbox serves for `source.stream`, from its own generator."""
    if stream.startswith("stripe."):
        return {r.id for r in stripe_data.dataset(SEED, CUSTOMERS)[stream.split(".")[1]]}
    if stream.startswith("salesforce."):
        sobject = {"salesforce.accounts": "Account", "salesforce.opportunities": "Opportunity"}[stream]
        return {r["Id"] for r in salesforce_data.dataset(SEED, CUSTOMERS)[sobject]}
    if stream == "shopify.orders":
        return {r["id"] for r in shopify.dataset(SEED, CUSTOMERS)["orders"]}
    if stream.startswith("github."):
        kind = {"github.issues": "issues", "github.pull_requests": "pulls"}[stream]
        repo = github.dataset(SEED, CUSTOMERS)["content"][github.REPO_ID]
        return {json.loads(body)["id"] for _, body in repo[kind]}
    if stream == "hubspot.contacts":
        return {r["id"] for r in hubspot.dataset(SEED, CUSTOMERS)["contacts"] if not r["archived"]}
    raise AssertionError(f"no truth for {stream}")


# library recipe -> (sandbox protocol, what fills its ${NAME}s)
RECIPES = {
    "stripe_payments": ("stripe", {}),
    "salesforce_pipeline": ("salesforce", {"SALESFORCE_INSTANCE": "sandbox"}),
    "shopify_orders": ("shopify", {"SHOPIFY_SHOP": "purelink-sandbox"}),
    "github_issues": ("github", {"GITHUB_OWNER": "octocat", "GITHUB_REPO": "Hello-World"}),
    "hubspot_contacts": ("hubspot", {}),
}
KEYS = {"stripe": "STRIPE_API_KEY", "salesforce": "SALESFORCE_ACCESS_TOKEN", "shopify": "SHOPIFY_ACCESS_TOKEN",
        "github": "GITHUB_TOKEN", "hubspot": "HUBSPOT_ACCESS_TOKEN"}


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_an_api_recipe_runs_as_its_readme_says(name, sandbox, copy_recipe, readme):
    protocol, fill = RECIPES[name]
    served = sandbox.sources()[protocol]
    options = [f"--var={k}={v}" for k, v in fill.items()]
    copied = copy_recipe(name, "--base-url", served["base_url"], *options, env={KEYS[protocol]: served["api_key"]})
    first, second = readme(name)

    assert copied.run() == first
    landed = {}
    for stream in first:
        table = f"{protocol}.{stream}"
        ids = [i for (i,) in copied.duckdb(f"SELECT id FROM {table}")]
        assert len(ids) == len(set(ids)) and set(ids) == truth(table), table
        landed[table] = len(ids)

    assert copied.run() == second
    assert second != first or name in ("hubspot_contacts",), "a second run should not re-read everything"
    for table, rows in landed.items():  # what the second run re-read was merged, never added
        ids = [i for (i,) in copied.duckdb(f"SELECT id FROM {table}")]
        assert len(ids) == rows and set(ids) == truth(table), table
    runs = [run["run_id"] for run in copied.runs]
    latest = copied.duckdb(f"SELECT count(*) FROM {protocol}.{next(iter(first))} "
                           f"WHERE _purelink_run_id = '{runs[1]}'")[0][0]
    assert latest == second[next(iter(first))]  # the rows it moved are the ones stamped with its run id
