"""Two workspaces open in one process: each sees its own imported connectors, never the other's
(connectors are looked up through a workspace, not a process-wide search path)."""

from __future__ import annotations

import pytest

from purelink.catalog.spec import get_spec, workspace_specs
from purelink.engine import Engine
from purelink.errors import SourceError
from purelink.recipes import parse_recipe
from purelink.wizard import Session, UnknownSource


def test_two_workspaces_in_one_process_do_not_see_each_others_connectors(tmp_path, openapi_doc, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(tmp_path)  # the current directory is a third workspace, with no connectors

    a = Session(first)
    a.import_openapi(openapi_doc)
    spec = a.confirm_import({"name": "payments"})
    b = Session(second)  # opened after the first imported its connector, in the same process

    assert a.spec == spec and get_spec("payments", first) == spec
    assert sorted(workspace_specs(first)) == ["payments"] and workspace_specs(second) == {}
    with pytest.raises(UnknownSource):
        b.choose_source("payments")
    assert "payments" not in [s.name for s in b.suggest_sources("pay")]
    assert "payments" in [s.name for s in a.suggest_sources("pay")]
    with pytest.raises(SourceError):
        get_spec("payments")  # nor from the current directory's workspace

    recipe = parse_recipe("name: p\nsource: {name: payments}\nstreams: [{name: customers}]\n")
    assert Engine(first).spec(recipe) == spec
    with pytest.raises(SourceError):
        Engine(second).spec(recipe)
