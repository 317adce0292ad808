"""The wizard's first stage, "start from a ready recipe": the session takes a library recipe's
answers and builds it to a run against the sandbox; the terminal agent offers the same."""

from __future__ import annotations

import json
import os
import sys

import pexpect
import pytest

from purelink.catalog.library import library_recipe
from purelink.sandbox import shopify
from purelink.wizard import Session, SessionError


def test_the_session_starts_from_a_ready_recipe_and_runs_it(small_sandbox, workspace):
    served = small_sandbox.sources()["shopify"]
    s = Session(workspace)
    offered = {c.name: c for c in s.ready_recipes()}
    assert {"stripe_payments", "shopify_orders", "github_issues"} <= set(offered)
    assert "manufacturing" not in offered  # databases are copied with `recipes new --from`
    with pytest.raises(SessionError) as refused:
        s.start_from("manufacturing")
    assert "recipes new NAME --from manufacturing" in refused.value.guidance

    ready = s.start_from("shopify_orders", {"SHOPIFY_SHOP": served["shop"]})
    library = library_recipe("shopify_orders").recipe
    assert ready.needs == ["SHOPIFY_SHOP"]
    assert (s.state.source, s.state.streams, s.state.variables) == ("shopify", ["orders"], {"shop": served["shop"]})
    assert s.state.requirements == library.requirements and s.state.recipe_name == "shopify_orders"
    assert s.missing("source") is None and s.missing("streams") is None

    s.set_requirements(base_url=served["base_url"], executor="local")
    assert s.set_credential(served["api_key"], save=False).where == "memory"
    s.probe()
    generated = s.generate()
    assert generated.ok and generated.recipe.name == "shopify_orders" and generated.recipe.version == 1
    assert generated.recipe.requirements.frequency == "hourly"  # the ready recipe's answers, kept
    assert s.test().ok
    assert s.run().wait(300).ok
    expected = {r["id"] for r in shopify.dataset(0, 150)["orders"]}
    ids = s.tables()["orders"]["id"].tolist()
    assert len(ids) == len(set(ids)) and set(ids) == expected


@pytest.mark.slow
def test_the_terminal_agent_offers_the_ready_recipes(workspace, private_home):
    env = {**os.environ, "PURELINK_HOME": str(private_home), "PURELINK_VAULT_KEYRING": "0", "TERM": "xterm",
           "PROMPT_TOOLKIT_NO_CPR": "1", "PYTHONUNBUFFERED": "1", "GITHUB_OWNER": "octocat"}
    child = pexpect.spawn(sys.executable, ["-m", "purelink.el_agent", "--workspace", str(workspace),
                                           "--executor", "local"],
                          env=env, cwd=str(workspace), encoding="utf-8", timeout=120, dimensions=(50, 200))
    try:
        child.expect("ready` for a ready recipe")
        child.sendline("ready")
        child.expect(r"(\d+)\) stripe_payments: Stripe customers and charges")
        number = child.match.group(1)
        child.expect("Ready recipe")
        child.sendline(number)
        child.expect("started from stripe_payments: customers, charges from Stripe")
        child.expect("Streams to load")  # the next stage, with the recipe's streams as its answer
    finally:
        child.terminate(force=True)
    state = json.loads((workspace / ".purelink" / "session.json").read_text())
    assert state["source"] == "stripe" and state["streams"] == ["customers", "charges"]
    assert state["requirements"]["frequency"] == "daily"


def find(widget, cls: str) -> list:
    """Every descendant widget with the CSS class `cls`."""
    found = [widget] if cls in getattr(widget, "_dom_classes", ()) else []
    for child in getattr(widget, "children", ()) or ():
        found += find(child, cls)
    return found


@pytest.mark.slow
def test_the_notebook_source_screen_offers_the_ready_recipes(workspace):
    from purelink_jupyter.wizard import Wizard

    wiz = Wizard(workspace=workspace, executor="local", insert_cells=False)
    (pick,) = find(wiz.widget, "purelink-ready")
    names = [value for _, value in pick.options if value]
    assert names == [c.name for c in wiz.session.ready_recipes()] and "stripe_payments" in names
    pick.value = "stripe_payments"  # as a click on the dropdown does
    state = wiz.session.state
    assert (state.source, state.streams, state.requirements.frequency) == ("stripe", ["customers", "charges"], "daily")
    assert "Started from the ready recipe stripe_payments" in wiz.message.value
    assert find(wiz.widget, "purelink-source")[0].value == "Stripe (Payment processing)"
    wiz.next()
    assert wiz.wait(120) and wiz.session.stage == "streams", wiz.message.value
