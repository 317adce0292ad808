"""The wizard's screens keep every answer and show nested fields as a tree (issue 15, items 4, 5,
7, 9): clicked through their widgets against the sandbox, as test_wizard.py does."""

from __future__ import annotations

import pytest

from purelink_jupyter.wizard import Wizard

from .test_wizard import find, one, until

pytestmark = pytest.mark.slow


@pytest.fixture
def at_schema(workspace, sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    wiz = Wizard(workspace=workspace.root, executor="local", insert_cells=False)
    s = wiz.session
    s.choose_source("stripe")
    s.next()
    s.choose_streams(["customers"])
    s.next()
    s.set_requirements(base_url=sandbox.stripe_base_url)
    s.next()
    s.set_credential(sandbox.api_key, save=False)
    s.next()
    wiz.show()
    assert wiz.wait(60) and wiz.session.stage == "schema"
    return wiz


def test_parents_are_tri_state_and_a_filter_narrows_wide_objects(at_schema):
    tree = at_schema.screen.trees["customers"]
    address, city = tree.nodes["address"], tree.nodes["address.city"]
    assert tree.state(address) == "all" and address.box.value  # every sub-field ticked: ticked
    city.box.value = False
    assert tree.state(address) == "some" and not address.box.value
    assert "purelink-mixed" in address.box._dom_classes  # shown as mixed, not as unticked
    contact = next(g for g in tree.groups if g.key == "group:Contact")
    assert "purelink-mixed" in contact.box._dom_classes
    address.box.value = True  # ticking the parent ticks every field under it
    assert all(n.box.value for n in address.leaves()) and "purelink-mixed" not in address.box._dom_classes
    address.box.value = False
    assert not any(n.box.value for n in address.leaves())
    tree.filter.value = "city"
    shown = [p for p, n in tree.nodes.items() if n.row.layout.display != "none"]
    assert shown == ["address", "address.city"]  # the field, and the parent leading to it
    assert tree.panels["group:Core"].layout.display == "none"  # no empty column left standing
    tree.filter.value = ""
    assert all(n.row.layout.display != "none" for n in tree.nodes.values())


def test_back_then_next_keeps_an_unticked_column(at_schema):
    wiz = at_schema
    wiz.screen.trees["customers"].nodes["phone"].box.value = False
    wiz.back()  # straight back, without Next: the choice goes with it
    assert wiz.session.stage == "credentials"
    wiz.next()
    assert wiz.wait(60) and wiz.session.stage == "schema"
    assert not wiz.screen.trees["customers"].nodes["phone"].box.value
    assert "phone" not in wiz.session.state.columns["customers"]
    wiz.go("streams")  # the breadcrumb
    assert wiz.session.stage == "streams"
    wiz.go("schema")
    assert not wiz.screen.trees["customers"].nodes["phone"].box.value


def test_requirements_survive_back_and_the_warehouse_url_follows_the_store(at_schema, sandbox):
    wiz = at_schema
    wiz.go("requirements")
    store = one(wiz, "purelink-q-destination")
    warehouse = one(wiz, "purelink-q-warehouse_url")
    assert store.value == "duckdb" and warehouse.layout.display == "none"
    store.value = "postgres"
    assert warehouse.layout.display != "none"
    warehouse.value = "postgresql://me@127.0.0.1:9/db"
    one(wiz, "purelink-q-history_start").value = "2024-02-01"
    one(wiz, "purelink-q-executor").value = "docker"
    wiz.back()
    wiz.next()
    assert one(wiz, "purelink-q-history_start").value == "2024-02-01"
    assert one(wiz, "purelink-q-warehouse_url").value == "postgresql://me@127.0.0.1:9/db"
    assert one(wiz, "purelink-q-executor").value == "docker"
    one(wiz, "purelink-q-history_start").value = "not a date"  # cannot be committed: kept as a draft
    wiz.back()
    assert wiz.session.stage == "streams"
    wiz.next()
    assert one(wiz, "purelink-q-history_start").value == "not a date"


def test_not_in_the_catalog_waits_for_a_pause_and_never_for_a_chosen_source(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    wiz = Wizard(workspace=workspace.root, insert_cells=False)
    combo, section = one(wiz, "purelink-source"), one(wiz, "purelink-discover-section")
    combo.value = "St"  # on its way to Stripe
    assert section.layout.display == "none"
    about = " ".join(h.value for h in find(wiz.widget, "purelink-suggestion-about"))
    assert "Payment" in about and len(about) > 60  # the catalog's one-line descriptions, not a category word
    combo.value = "Stripe (Payment processing)"
    assert wiz.session.state.source == "stripe"
    combo.value = "Zzqx"
    assert section.layout.display == "none"  # not after one keystroke ...
    assert until(lambda: section.layout.display != "none")  # ... after the pause
    wiz.say("Run `purelink recipes list` **now**")
    assert "<code>purelink recipes list</code>" in wiz.message.value and "<b>now</b>" in wiz.message.value
