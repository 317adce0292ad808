"""The issue's walk-through: wizard -> run -> edit columns -> run again -> history shows both."""

from __future__ import annotations

import subprocess

import duckdb

from purelink.cli import main
from purelink.lifecycle.timeline import timeline
from purelink.wizard import Session


def build_and_run(s: Session, columns: list[str], *, full_refresh: bool = False):
    s.choose_columns("customers", columns)
    s.next()  # design
    s.next()  # generate
    generated = s.generate()
    assert generated.ok
    s.next()
    assert s.test().ok
    s.next()
    result = s.run(full_refresh=full_refresh).wait(600)
    assert result.ok
    return generated.recipe


def test_wizard_run_edit_columns_run_again_then_history(small_sandbox, workspace, capsys):
    s = Session(workspace)
    s.choose_source("stripe")
    s.next()
    s.choose_streams(["customers"])
    s.next()
    s.set_requirements(base_url=small_sandbox.stripe_base_url, executor="local")
    s.next()
    s.set_credential(small_sandbox.api_key)
    s.next()
    s.probe()
    v1 = build_and_run(s, ["id", "email", "phone", "created"])
    s.go("schema")
    v2 = build_and_run(s, ["id", "email", "created"], full_refresh=True)  # reload every row in the new shape
    assert (v1.version, v2.version) == (1, 2)

    story = timeline(s.engine.recipes, "stripe_customers")
    first, second = story["versions"]
    assert second["change"] == "columns -phone" and "-  - phone" in second["diff"]
    # Each run read the sandbox's 150 customers: loaded, or kept aside by the plan's email validation.
    for version in (first, second):
        assert [(r["status"], r["records"] + r["dead_letters"]) for r in version["runs"]] == [("success", 150)]

    # Version 1's commit carries the probe's schema and sample with the recipe and its module.
    files = subprocess.run(["git", "show", "--name-only", "--format=", first["commit"]], cwd=workspace,
                           capture_output=True, text=True, check=True).stdout.split()
    assert {"recipes/stripe_customers_v1.yaml", "pipelines/stripe_customers.py",
            "schemas/stripe_customers.sql", "samples/stripe_customers_preview.json"} <= set(files)
    tracked = subprocess.run(["git", "ls-files"], cwd=workspace, capture_output=True, text=True,
                             check=True).stdout.split()
    assert not [f for f in tracked if f.startswith(("data/", "logs/"))]
    everything = subprocess.run(["git", "log", "-p", "--all"], cwd=workspace, capture_output=True, text=True,
                                check=True).stdout
    assert small_sandbox.api_key not in everything  # the key the wizard saved went to the vault only

    con = duckdb.connect(str(workspace / "data" / "purelink.duckdb"), read_only=True)
    try:
        count, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone()
        set_aside = con.execute("SELECT count(*) FROM _purelink.dead_letters WHERE run_id = ?",
                                [second["runs"][0]["run_id"]]).fetchone()[0]
    finally:
        con.close()
    assert count == distinct == 150 - set_aside == second["runs"][0]["records"]

    assert main(["recipes", "history", "stripe_customers", "--workspace", str(workspace)]) == 0
    text = capsys.readouterr().out
    assert "stripe_customers v1" in text and "stripe_customers v2" in text and "change: columns -phone" in text
    assert text.count("success") == 2
