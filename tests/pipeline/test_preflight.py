"""Pre-flight checks on generated modules: syntax, ruff, packages, DDL, credentials."""

from __future__ import annotations

import pytest

from purelink.catalog.spec import get_spec
from purelink.discovery.probe import probe_stream
from purelink.pipeline import preflight as pf
from purelink.pipeline.codegen import write_module
from purelink.recipes import Recipe, SourceChoice, StreamChoice
from purelink.workspace import Workspace


@pytest.fixture
def generated(sandbox, workspace):
    ws = Workspace.at(workspace).ensure()
    recipe = Recipe(name="stripe_customers",
                    source=SourceChoice(name="stripe", base_url=sandbox.stripe_base_url),
                    streams=[StreamChoice(name="customers", columns=["id", "email", "address.city"])])
    probe = probe_stream(get_spec("stripe"), "customers", secret=sandbox.api_key,
                         base_url=sandbox.stripe_base_url, workspace=ws,
                         columns=["id", "email", "address.city"])
    assert probe.schema_path.is_file()
    return write_module(recipe, ws.pipelines), ws


def statuses(checks) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def test_a_generated_module_passes_every_check(generated, sandbox):
    module, ws = generated
    checks = pf.preflight(module, spec=get_spec("stripe"), streams=["customers"], workspace=ws,
                          secret=sandbox.api_key, base_url=sandbox.stripe_base_url)
    assert statuses(checks) == {"syntax": "PASS", "lint": "PASS", "packages": "PASS", "schema": "PASS",
                                "credentials": "PASS"}, [str(c) for c in checks]
    assert "stripe.customers" in checks[3].detail and "accepted" in checks[4].detail


def test_failures_and_warnings_carry_a_reason(generated, sandbox, tmp_path):
    _, ws = generated
    spec = get_spec("stripe")
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    assert pf.check_syntax(broken).status == "FAIL" and "line 1" in pf.check_syntax(broken).detail
    unused = tmp_path / "unused.py"
    unused.write_text("import os\n")
    assert pf.check_lint(unused).status == "WARN" and "F401" in pf.check_lint(unused).detail
    undefined = tmp_path / "undefined.py"
    undefined.write_text("print(nowhere)\n")
    assert pf.check_lint(undefined).status == "FAIL"
    missing = tmp_path / "missing.py"
    missing.write_text("import no_such_package_here\n")
    check = pf.check_packages(missing)
    assert check.status == "FAIL" and "no_such_package_here" in check.detail and "pip install" in check.detail
    (ws.schemas / "stripe_customers.sql").write_text("CREATE TABLE x (a NOTATYPE);")
    assert pf.check_schema([ws.schemas / "stripe_customers.sql"]).status == "FAIL"
    assert pf.check_schema([ws.schemas / "stripe_charges.sql"]).status == "WARN"
    rejected = pf.check_credentials(spec, "sk_test_wrongwrongwrong", base_url=sandbox.stripe_base_url)
    assert rejected.status == "FAIL" and "401" in rejected.detail and "wrongwrong" not in rejected.detail
    unreachable = pf.check_credentials(spec, sandbox.api_key, base_url="http://127.0.0.1:9/v1")
    assert unreachable.status == "FAIL" and "unreachable" in unreachable.detail
    assert pf.check_credentials(spec, None).status == "WARN"


def test_ruff_missing_is_a_warning(generated, monkeypatch):
    module, _ = generated
    monkeypatch.setattr(pf, "_ruff", lambda: None)
    check = pf.check_lint(module)
    assert check.status == "WARN" and "ruff is not installed" in check.detail


def test_every_catalog_connector_generates_a_module_ruff_passes(tmp_path):
    # With every stream, checks and a table name, the import line grows past the line limit: it
    # is wrapped as isort wraps it (the wizard's lint said "I001 Import block is un-sorted").
    from purelink.catalog.spec import catalog

    ws = Workspace.at(tmp_path).ensure()
    for spec in catalog().values():
        if spec.kind != "rest":
            continue
        recipe = Recipe(name=f"all_{spec.name}", source=SourceChoice(name=spec.name, base_url="http://127.0.0.1:9/x"), streams=[
            StreamChoice(name=s.name, into=f"{s.name}_copy", validations=[{"kind": "required", "field": "id"}])
            for s in spec.streams])
        module = write_module(recipe, ws.pipelines, spec)
        check = pf.check_lint(module)
        assert check.status == "PASS", (spec.name, check.detail)
