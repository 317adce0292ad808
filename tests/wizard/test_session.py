"""The UI-agnostic session against the sandbox: every stage, Back/Next, invalidation, resume,
no secret on disk, Stop/Pause of a run, and "done" only after a passing test and a finished run."""

from __future__ import annotations

import json
import re
import time

import pytest

from purelink.errors import CredentialError
from purelink.sandbox import serve
from purelink.secrets.vault import Vault
from purelink.wizard import STAGES, Session, SessionError, UnknownSource


def to_credentials(session: Session, sandbox, streams=("customers",)) -> None:
    session.choose_source("stripe")
    session.next()
    session.choose_streams(list(streams))
    session.next()
    session.set_requirements(base_url=sandbox.stripe_base_url, executor="local")
    session.next()


def test_the_whole_flow(sandbox, workspace):
    s = Session(workspace)
    labels = [x.label for x in s.suggest_sources("S")][:3]
    assert set(labels) >= {"Salesforce (CRM platform)", "Stripe (Payment processing)", "Shopify (E-commerce)"}
    with pytest.raises(SessionError, match="source stage"):
        s.next()
    to_credentials(s, sandbox)
    assert s.stage == "credentials"
    help_ = s.key_guidance()
    assert help_.needs_key and help_.dashboard_url.startswith("https://dashboard.stripe.com")
    assert help_.env == "STRIPE_API_KEY" and help_.steps and help_.found is None
    with pytest.raises(CredentialError, match="not a Stripe key"):
        s.set_credential("pk_test_publishable")
    with pytest.raises(CredentialError, match="401"):
        s.set_credential("sk_test_revokedrevoked42")
    with pytest.raises(SessionError):
        s.next()
    status = s.set_credential(sandbox.api_key)
    assert status.saved and status.where == "vault" and status.masked.startswith("sk_test_")
    assert "accepted" in status.health
    assert Vault().get("stripe") == sandbox.api_key
    s.next()
    probes = s.probe()
    assert len(probes["customers"].records) == 5
    assert {"id", "email", "address.city"} <= set(s.state.columns["customers"])
    assert set(s.column_groups("customers")) == {"Core", "Contact", "Business", "Complex"}
    s.choose_columns("customers", ["id", "email", "name", "address.city", "created"])
    with pytest.raises(SessionError, match="no field"):
        s.choose_columns("customers", ["id", "nope"])
    s.next()
    assert s.stage == "design"
    plan = s.plan()
    assert "stripe.customers" in plan.text()
    offered = plan.stream("customers").suggested
    assert [(v.kind, v.field) for v in offered] == [("email", "email")]  # unticked by default
    s.choose_validations("customers", offered)  # ticked, then unticked again: the user decides
    assert any(v.kind == "email" for v in s.plan().stream("customers").validations)
    s.choose_validations("customers", [])
    assert not any(v.kind == "email" for v in s.plan().stream("customers").validations)
    s.next()
    g = s.generate()
    assert g.ok and g.recipe.name == "stripe_customers" and g.recipe.version == 1
    assert g.recipe_path.is_file() and g.module_path.is_file()
    assert "email format" in plan.text()  # offered by the plan ...
    assert not re.search(r"Validation\(['\"]email['\"]", g.code)  # ... and not applied: nobody chose it
    assert [c.status for c in g.checks] == ["PASS"] * 5
    assert g.cell.startswith("import purelink") and 'purelink.run("stripe_customers"' in g.cell
    s.next()
    with pytest.raises(SessionError, match="test"):
        s.next()  # not tested yet
    seen = []
    report = s.test(on_event=seen.append)
    assert report.ok
    assert {c["name"] for c in report.checks} >= {"credentials", "connectivity", "storage writes"}
    assert seen[0]["event"] == "started" and seen[-1]["event"] == "finished"
    assert not (workspace / "data" / "purelink.duckdb").exists()  # the test wrote to a scratch database
    assert not s.state.done
    s.next()
    control = s.run()
    result = control.wait(120)
    assert result.ok and s.state.done
    s.next()
    outcome = s.result()
    assert outcome.done and outcome.status == "success" and "status:      success" in outcome.summary
    assert outcome.files["recipe"].endswith("stripe_customers_v1.yaml")
    frames = s.tables()
    assert list(frames["customers"].columns[:5]) == ["id", "email", "name", "address_city", "created"]
    assert len(frames["customers"]) == s.state.run["records"]
    saved = (workspace / ".purelink" / "session.json").read_text()
    assert sandbox.api_key not in saved and json.loads(saved)["done"] is True
    for path in workspace.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".yaml", ".py", ".sql", ".log"):
            assert sandbox.api_key not in path.read_text(errors="replace"), path


def test_back_keeps_answers_and_changes_clear_what_depended_on_them(sandbox, workspace):
    s = Session(workspace)
    to_credentials(s, sandbox)
    s.set_credential(sandbox.api_key, save=False)
    s.next()
    s.probe()
    assert s.back() == "credentials" and s.back() == "requirements"
    assert s.state.streams == ["customers"] and s.state.credential_ok  # nothing lost
    s.set_requirements(purpose="production", frequency="daily")
    assert s.state.credential_ok and s.state.probed == ["customers"]  # not made stale
    with pytest.raises(SessionError, match="Cannot go to run"):
        s.go("run")
    s.go("schema")
    s.go("streams")
    s.choose_streams(["customers", "charges"])
    assert s.state.probed == ["customers"] and s.missing("schema")  # charges still to sample
    s.choose_source("stripe")  # the same source: nothing changes
    assert s.state.streams == ["customers", "charges"]
    with pytest.raises(UnknownSource) as err:
        s.choose_source("Strpe")
    assert err.value.suggestions[0].name == "stripe" and "OpenAPI" in err.value.guidance
    assert s.state.source == "stripe"
    s.set_requirements(base_url="http://127.0.0.1:9/v1")  # another server: key and samples unproven
    assert not s.state.credential_ok and s.state.probed == [] and s.state.credential == "stripe"
    s.set_requirements(base_url="https://api.stripe.com/v1")  # the spec's own URL is no override
    assert s.state.base_url is None
    assert list(STAGES) == ["source", "streams", "requirements", "credentials", "schema", "design",
                            "generate", "test", "run", "result"]


def test_resume_without_the_key_in_memory(sandbox, workspace):
    s = Session(workspace)
    to_credentials(s, sandbox)
    s.set_credential(sandbox.api_key, save=False)  # memory only
    s.next()
    again = Session.resume(workspace)
    assert again.stage == "schema" and again.state.streams == ["customers"]
    assert not again.state.credential_ok  # the key was not saved: ask for it again
    with pytest.raises(SessionError, match="key"):
        again.probe()
    kept = Session(workspace)
    to_credentials(kept, sandbox)
    kept.set_credential(sandbox.api_key)  # in the vault
    resumed = Session.resume(workspace)
    assert resumed.state.credential_ok
    assert resumed.key_guidance().found.startswith("vault entry stripe: sk_test_")
    assert "stripe" in resumed.probe()["customers"].name
    with pytest.raises(SessionError, match="No saved session"):
        Session.resume(workspace / "elsewhere")


def test_a_key_in_the_environment_is_offered(sandbox, workspace, monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", sandbox.api_key)
    s = Session(workspace)
    to_credentials(s, sandbox)
    assert s.key_guidance().found.startswith("environment variable STRIPE_API_KEY: sk_test_")
    status = s.use_existing_credential()
    assert not status.saved and s.state.credential_ok
    assert Vault().get("stripe") is None  # an environment variable is never copied into the vault


@pytest.mark.slow
def test_stop_and_pause_a_run(workspace):
    with serve(seed=1, customers=4000, latency_ms=30) as slow:
        s = Session(workspace)
        to_credentials(s, slow)
        s.set_requirements(rate_limit=10)
        s.set_credential(slow.api_key)
        s.probe()
        s.plan()
        s.generate()
        assert s.test().ok
        pages = []
        control = s.run(on_event=lambda e: pages.append(e) if e["event"] == "page" else None)
        deadline = time.monotonic() + 30
        while not pages and time.monotonic() < deadline:
            time.sleep(0.05)
        control.pause()
        time.sleep(0.5)
        frozen = len(pages)
        time.sleep(1.0)
        assert len(pages) == frozen and control.paused  # nothing moves while paused
        control.resume()
        time.sleep(0.3)
        control.stop()
        result = control.wait(60)
    assert result is not None and not result.ok
    assert s.state.run["status"] in ("stopped", "failed") and not s.state.done
    assert s.missing("run") == "Run the pipeline to the end."
