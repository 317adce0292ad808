"""The wizard driven through its widgets, as a person clicks it, against the sandbox API.

The browser test (test_browser.py) does the same in a real JupyterLab; this one runs anywhere
and checks what each screen hands to the session.
"""

from __future__ import annotations

import pytest

from purelink_jupyter.wizard import Wizard

pytestmark = pytest.mark.slow


def find(widget, cls):
    """Every descendant widget with the CSS class `cls` (through boxes, tabs and accordions)."""
    found = [widget] if cls in getattr(widget, "_dom_classes", ()) else []
    for child in getattr(widget, "children", ()) or ():
        found += find(child, cls)
    return found


def text_of(widget) -> str:
    """All the HTML a widget tree shows, as one string."""
    own = widget.value if type(widget).__name__ == "HTML" else ""
    return own + "".join(text_of(c) for c in getattr(widget, "children", ()) or ())


def one(wiz, cls):
    hits = find(wiz.widget, cls)
    assert hits, f"no .{cls} on the {wiz.session.stage} screen"
    return hits[0]


def until(condition, timeout: float = 30.0) -> bool:
    """Wait for `condition()` to hold (an event, polled), at most `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def click_next(wiz, stage):
    wiz.next()
    assert wiz.wait(120)
    assert wiz.session.stage == stage, wiz.message.value


@pytest.fixture
def wizard(workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    return Wizard(workspace=workspace.root, executor="local", insert_cells=False)


def test_the_whole_flow_by_clicking(wizard, sandbox, workspace):
    wiz = wizard
    combo = one(wiz, "purelink-source")
    combo.value = "S"
    assert {"Salesforce (CRM platform)", "Stripe (Payment processing)", "Shopify (E-commerce)"} <= set(combo.options)
    stripe = next(b for b in find(wiz.widget, "purelink-suggestion") if b.description.startswith("Stripe"))
    stripe.click()
    assert wiz.session.state.source == "stripe" and "Stripe chosen" in wiz.message.value
    click_next(wiz, "streams")

    for box in find(wiz.widget, "purelink-stream"):
        box.value = box.description == "customers"
    click_next(wiz, "requirements")

    one(wiz, "purelink-q-base_url").value = sandbox.stripe_base_url
    assert wiz.screen.executor.value == "local"
    click_next(wiz, "credentials")
    assert wiz.session.state.base_url == sandbox.stripe_base_url

    wiz.next()  # no key yet: the session says what is missing
    assert wiz.session.stage == "credentials" and "Enter the key" in wiz.message.value
    one(wiz, "purelink-key").value = sandbox.api_key
    wiz.screen._validate()
    assert one(wiz, "purelink-key").value == ""  # the Password widget keeps no key
    assert wiz.wait(60)
    assert "validated and encrypted" in wiz.screen.status.value
    click_next(wiz, "schema")
    assert wiz.wait(60)
    tree = wiz.screen.trees["customers"]
    assert {"id", "email", "address.city"} <= set(tree.nodes)
    assert tree.nodes["address.city"].box.description == "city"  # the tree gives the rest ...
    assert tree.nodes["address.city"].box.tooltip.startswith("address.city")  # ... and the hover the full name
    wanted = {"id", "email", "name", "created", "balance", "address.city"}
    for path, node in tree.nodes.items():
        if not node.children:
            node.box.value = path in wanted
    click_next(wiz, "design")
    assert set(wiz.session.state.columns["customers"]) == wanted
    assert "Plan for stripe_customers" in wiz.screen.widget.children[0].value
    assert "<pre" not in wiz.screen.plan_html.value  # a table that wraps between words
    (email_check,) = find(wiz.widget, "purelink-suggested-check")
    assert not email_check.value and "email is a valid email" in email_check.description  # unticked
    email_check.value = True  # ticked: the plan applies it ...
    assert "email: email format" in wiz.screen.plan_html.value.split("suggested")[0]
    email_check.value = False  # ... unticked again: it does not
    assert "email: email format" not in wiz.screen.plan_html.value.split("suggested")[0]
    click_next(wiz, "generate")

    one(wiz, "purelink-generate").click()
    assert wiz.wait(120)
    assert (workspace.pipelines / "stripe_customers.py").exists()
    assert "purelink.run(" in wiz.screen.result.children[-1].value  # the copy box: nothing was inserted
    module_html = text_of(wiz.screen.result)
    assert "purelink-highlight" in module_html and "<span style=" in module_html  # Pygments colours
    click_next(wiz, "test")

    one(wiz, "purelink-test").click()
    assert wiz.wait(120)
    assert "PASS" in wiz.screen.checklist.value and "credentials" in wiz.screen.checklist.value
    click_next(wiz, "run")

    run = one(wiz, "purelink-run")
    run.click()
    first = wiz.screen.area.children[0]
    assert run.disabled and one(wiz, "purelink-next").disabled  # disabled while the run goes
    run.click()  # a click that reached the kernel anyway is refused, and the monitor stays
    assert "still running" in wiz.message.value and wiz.screen.area.children[0] is first
    assert wiz.wait(120)
    assert not run.disabled
    monitor = wiz.screen.area.children[0]
    bar = next(c for c in monitor.children if type(c).__name__ == "IntProgress")
    assert bar.value == 100 and bar.bar_style == "success"
    click_next(wiz, "result")
    assert wiz.wait(60)
    frame = wiz.tables["customers"]
    assert len(frame) > 3000 and "email" in frame.columns
    assert f"{len(frame)}</span> rows" in one(wiz, "purelink-rowcount").value
    preview = wiz.screen.frames.children[1].value
    assert "cus_" in preview and "purelink-compact" in preview  # the first rows, one line each


def test_source_option_opens_at_the_streams(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    wiz = Wizard(workspace=workspace.root, source="stripe", insert_cells=False)
    assert wiz.session.stage == "streams"
    assert {b.description for b in find(wiz.widget, "purelink-stream")} >= {"customers", "charges"}
    wiz.back()
    assert wiz.session.stage == "source" and one(wiz, "purelink-source").value == "Stripe (Payment processing)"


def test_an_unknown_source_says_what_is_near(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    wiz = Wizard(workspace=workspace.root, source="strpe", insert_cells=False)
    assert wiz.session.stage == "source"
    assert "Stripe" in wiz.message.value and "OpenAPI" in wiz.message.value


def test_next_without_a_stream_says_so(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    wiz = Wizard(workspace=workspace.root, source="stripe", insert_cells=False)
    wiz.next()
    assert wiz.session.stage == "streams" and "No stream chosen" in wiz.message.value


def test_free_text_fills_the_first_stages_and_says_who_answered(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    wiz = Wizard(workspace=workspace.root, insert_cells=False)
    assert "assistant: offline" in text_of(wiz.widget)
    one(wiz, "purelink-intent").value = "stripe customers since January, daily"
    one(wiz, "purelink-fill").click()
    assert wiz.wait(30)
    st = wiz.session.state
    assert st.source == "stripe" and st.streams == ["customers"] and st.requirements.frequency == "daily"
    assert one(wiz, "purelink-source").value == "Stripe (Payment processing)"
    click_next(wiz, "streams")
    assert [b.description for b in find(wiz.widget, "purelink-stream") if b.value] == ["customers"]


def test_a_failed_test_can_be_explained(wizard, sandbox, workspace, monkeypatch):
    wiz = wizard
    wiz.session.choose_source("stripe")
    wiz.session.next()
    wiz.session.choose_streams(["customers"])
    wiz.session.next()
    wiz.session.set_requirements(base_url=sandbox.stripe_base_url, executor="local")
    wiz.session.next()
    wiz.session.set_credential(sandbox.api_key, save=False)
    for stage in ("schema", "design", "generate"):
        if stage == "schema":
            wiz.session.probe()
        wiz.session.next()
    wiz.session.generate()
    wiz.session.next()
    wiz.session.credentials.secret = type(wiz.session.credentials.secret)("sk_test_wrongwrongwrong123456")  # the key was revoked
    wiz.show()
    one(wiz, "purelink-test").click()
    assert wiz.wait(120)
    assert "The test failed" in wiz.message.value
    one(wiz, "purelink-explain").click()
    assert wiz.wait(60)
    assert "answered by offline" in text_of(wiz.screen.area)


def test_an_api_in_no_catalog_is_found_by_the_assistant(workspace, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)  # the offline assistant answers
    acme = sandbox.sources()["acme"]
    wiz = Wizard(workspace=workspace.root, executor="local", insert_cells=False)
    section = one(wiz, "purelink-discover-section")
    combo = one(wiz, "purelink-source")
    combo.value = "Stripe"
    assert section.layout.display == "none"  # a known source needs no assistant
    combo.value = "Acme Tickets"
    assert until(lambda: section.layout.display != "none")  # once the typing paused
    assert "Acme Tickets is not in the catalog" in text_of(section)
    assert one(wiz, "purelink-discover-name").value == "Acme Tickets"

    one(wiz, "purelink-discover-open").click()
    one(wiz, "purelink-discover-url").value = acme["base_url"]
    key = one(wiz, "purelink-discover-key")
    key.value = acme["api_key"]
    one(wiz, "purelink-discover").click()
    assert key.value == ""  # the Password widget keeps no key
    assert wiz.wait(120), "discovery did not finish"
    rounds = one(wiz, "purelink-rounds").value
    assert "Round 1 (offline rules): works" in rounds and "/tickets?page_size=2&amp;cursor=" in rounds
    assert "assistant: offline rules" in text_of(section)
    assert "answered by offline rules" in text_of(section) and wiz.session.state.source is None  # not yet chosen

    one(wiz, "purelink-use-discovered").click()
    assert wiz.wait(60), "saving did not finish"
    st = wiz.session.state
    assert st.source == "acme_tickets" and st.imported_from == "assistant: offline rules"
    assert (workspace.root / "connectors" / "acme_tickets.yaml").is_file()
    assert "found by the assistant" in wiz.message.value and section.layout.display == "none"
    click_next(wiz, "streams")
    assert {b.description for b in find(wiz.widget, "purelink-stream")} == {"tickets", "organizations", "agents"}
    saved = "".join(p.read_text() for p in workspace.root.rglob("*") if p.is_file() and p.suffix in (".json", ".yaml"))
    assert acme["api_key"] not in saved


def test_the_assistant_says_when_it_finds_nothing(workspace, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    wiz = Wizard(workspace=workspace.root, insert_cells=False)
    one(wiz, "purelink-source").value = "Nowhere API"
    assert until(lambda: one(wiz, "purelink-discover-name").value == "Nowhere API")
    one(wiz, "purelink-discover").click()
    assert "base URL first" in wiz.message.value and not wiz.busy
    one(wiz, "purelink-discover-url").value = sandbox.stripe_base_url.rstrip("/") + "/no-such-api"
    one(wiz, "purelink-discover").click()
    assert wiz.wait(120)
    assert "No working connector was found for Nowhere API" in wiz.message.value
    assert not find(wiz.widget, "purelink-use-discovered") and wiz.session.state.source is None
