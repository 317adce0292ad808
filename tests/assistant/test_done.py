"""Issue 8's done-criterion: the Acme Tickets API (in no catalog, no OpenAPI document) goes from its
name to a tested pipeline and a full load into DuckDB, once with Gemini (the real google-genai
client against the fake REST API, one scripted wrong guess corrected in round 2) and once with
no key, where the offline assistant answers and says so."""

from __future__ import annotations

from datetime import date

import duckdb

from purelink.assistant.prefill import accept_source, advise_columns, apply_intent, discover_source, prefill
from purelink.wizard import Session

REQUEST = "acme tickets since January, daily"



def january() -> str:
    return date(date.today().year, 1, 1).isoformat()


def proposal(cursor_param: str) -> dict:
    """What Gemini might propose for Acme Tickets; only the cursor parameter varies."""
    return {
        "title": "Acme Tickets", "description": "Help-desk tickets, agents and organizations",
        "base_url": "https://api.acme.example/api/v2", "auth": {"style": "bearer"},
        "pagination": {"style": "cursor", "cursor_param": cursor_param, "cursor_path": "next_cursor",
                       "limit_param": "page_size", "page_size": 100},
        "records_path": "items",
        "streams": [{"name": "tickets", "path": "/tickets", "description": "Support tickets", "primary_key": "id",
                     "cursor_field": "updated_at"},
                    {"name": "agents", "path": "/agents", "description": "Support agents", "primary_key": "id"}],
        "explanation": "REST API with bearer tokens and cursor pagination.",
    }


COLUMNS = {"columns": [
    {"path": "id", "description": "ticket number", "pii": "none"},
    {"path": "requester.email", "description": "requester's email", "pii": "email", "validation": "email",
     "include": True},
    {"path": "requester.name", "description": "requester's name", "pii": "name", "include": True},
    {"path": "requester.phone", "description": "requester's phone", "pii": "phone", "include": False},
    {"path": "made_up.column", "description": "not in the sample", "pii": "none"},
]}


def build_and_run(s: Session, key: str) -> None:
    """Stages 2-9 once the source and the intent are in: the same for both assistants."""
    s.next()
    s.next()
    s.set_requirements(executor="local")
    s.next()
    status = s.set_credential(key)
    assert status.saved and "acme_ro" not in status.masked
    s.next()
    probes = s.probe()
    assert len(probes["tickets"].records) == 5
    advice = advise_columns(s)["tickets"]
    assert {"requester.email", "requester.name"} <= set(s.state.columns["tickets"])
    assert "requester.phone" not in s.state.columns["tickets"]
    assert "requester.email" in advice.pii
    s.next()
    plan = s.plan() if s.stage != "design" else s.next() and s.plan()
    # the email check is offered (it would drop rows), not applied until the user chooses it
    assert any(v.kind == "email" and v.field == "requester.email" for v in plan.stream("tickets").suggested)
    assert not any(v.kind == "email" for v in plan.stream("tickets").validations)
    if s.stage == "design":
        s.next()
    g = s.generate()
    assert g.ok, [c for c in g.checks if c.status == "FAIL"]
    code = g.code.replace('"', "'")  # the templates' quoting is theirs to choose
    assert "cursor_param='cursor'" in code and "Validation('email'" not in code
    assert g.recipe_path.is_file()
    s.next()
    report = s.test()
    assert report.ok, report.checks
    assert {c["name"] for c in report.checks} >= {"credentials", "sample records", "storage writes"}
    s.next()
    result = s.run().wait(180)
    assert result is not None and result.ok, result and result.output[-5:]
    assert s.state.done
    db = s.workspace.root / "data" / "purelink.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    try:
        loaded = con.execute("SELECT count(*), count(DISTINCT id), count(requester_email) "
                             "FROM acme_tickets.tickets").fetchone()
    finally:
        con.close()
    assert loaded[0] == loaded[1] == 150  # every ticket the sandbox holds, once
    assert loaded[2] > 0


def test_gemini_takes_acme_from_its_name_to_a_loaded_table(fake_gemini, acme, workspace):
    fake_gemini.answer({"source": "Acme Tickets", "streams": ["tickets"], "frequency": "daily",
                        "history_start": january()})
    fake_gemini.answer(proposal("after"))  # round 1: a common guess this API refuses
    fake_gemini.answer(proposal("cursor"))  # round 2: corrected from the probe's error
    fake_gemini.answer(COLUMNS)
    s = Session(workspace)
    p = prefill(s, REQUEST)
    assert p.answered_by == "Gemini (gemini-2.5-flash)" and p.unknown_source == "Acme Tickets"
    assert "Gemini (gemini-2.5-flash)" in p.text()
    shown = []
    d = discover_source(s, p.unknown_source, base_url=acme["base_url"], key=acme["api_key"], on_round=shown.append)
    assert [r.ok for r in d.rounds] == [False, True] and shown == d.rounds
    failed = d.rounds[0].outcomes[0]
    assert not failed.ok and "Unknown query parameter 'after'" in failed.problem
    assert failed.requests[0].endswith("-> 200, 2 records") and "after=" in failed.requests[1]
    assert d.ok and d.spec.base_url == acme["base_url"] and "Round 2 (Gemini (gemini-2.5-flash)): works" in d.text()

    sent = fake_gemini.requests
    assert [r.model for r in sent] == ["gemini-2.5-flash"] * 3
    assert all(r.config.get("responseMimeType") == "application/json" and r.schema for r in sent)
    assert "Round 1 was tried and failed" not in sent[1].prompt
    assert "Unknown query parameter 'after'" in sent[2].prompt and '"cursor_param":"after"' in sent[2].prompt
    assert acme["base_url"] in sent[1].prompt

    spec = accept_source(s, d)
    assert (workspace / "connectors" / "acme_tickets.yaml").is_file()
    assert "Gemini (gemini-2.5-flash), 2 round(s)" in (workspace / "connectors" / "acme_tickets.yaml").read_text()
    applied = apply_intent(s, p.intent)  # the same sentence, now that the source exists
    assert s.state.source == spec.name == "acme_tickets" and s.state.streams == ["tickets"]
    assert s.state.requirements.frequency == "daily" and s.state.requirements.history_start == january()
    assert not applied.unknown_source
    build_and_run(s, acme["api_key"])
    assert len(fake_gemini.requests) == 4 and "requester.email: VARCHAR" in fake_gemini.requests[3].prompt
    assert not any(acme["api_key"] in r.prompt for r in fake_gemini.requests)
    assert not any("@example" in r.prompt for r in fake_gemini.requests)  # sample values leave only as shapes


def test_without_a_key_the_offline_assistant_does_it_and_says_so(acme, workspace):
    s = Session(workspace)
    p = prefill(s, REQUEST)
    assert p.answered_by == "offline rules" and "offline rules" in p.text()
    assert p.unknown_source == "Acme Tickets" and p.intent.frequency == "daily"
    d = discover_source(s, p.unknown_source, base_url=acme["base_url"], key=acme["api_key"])
    assert d.answered_by == "offline rules" and d.ok and len(d.rounds) == 1
    assert {x.name for x in d.spec.streams} == {"tickets", "organizations", "agents"}
    assert d.spec.pagination.model_extra["cursor_param"] == "cursor" and d.spec.records_path == "items"
    assert any("/tickets?page_size=2&cursor=" in g for g in d.rounds[0].guesses)  # each guess is reported
    assert d.question is None
    accept_source(s, d)
    again = prefill(s, REQUEST)
    assert again.unknown_source is None and s.state.streams == ["tickets"]
    assert s.state.requirements.history_start == january()
    build_and_run(s, acme["api_key"])
