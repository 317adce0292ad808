"""Free text to a prefilled wizard: the offline rules on many phrasings, Gemini through the fake,
and both applied to a real Session (names matched against the catalog there)."""

from __future__ import annotations

from datetime import date

import pytest

from purelink.assistant import OfflineAssistant, get_assistant
from purelink.assistant.intent_rules import parse
from purelink.assistant.prefill import prefill
from purelink.catalog.spec import catalog
from purelink.wizard import Session

TODAY = date(2025, 3, 4)


@pytest.mark.parametrize("text, source, streams, frequency, start", [
    ("stripe customers since January, daily", "stripe", ["customers"], "daily", "2025-01-01"),
    ("Stripe charges and invoices since December, hourly", "stripe", ["charges", "invoices"], "hourly", "2024-12-01"),
    ("strpie customers", "stripe", ["customers"], None, None),
    ("hubspot contacts from 2024-06-15 just once", "hubspot", ["contacts"], "once", "2024-06-15"),
    ("github issues and pull requests for the last 30 days", "github", ["pull_requests", "issues"], None, "2025-02-02"),
    ("salesforce accounts since March 3, 2024, once a day", "salesforce", ["accounts"], "daily", "2024-03-03"),
    ("shopify orders since 2023 every hour", "shopify", ["orders"], "hourly", "2023-01-01"),
    ("sync my shopify order data since last year", "shopify", ["orders"], None, "2024-01-01"),
    ("load salesforce leads, past 6 months", "salesforce", ["leads"], None, "2024-09-04"),
])
def test_offline_rules(text, source, streams, frequency, start):
    intent = parse(text, list(catalog().values()), today=TODAY)
    assert (intent.source, intent.streams, intent.frequency, intent.history_start) == (source, streams, frequency,
                                                                                       start)


def test_destination_purpose_and_unknown_sources():
    intent = parse("Acme Tickets into the warehouse for production, all history", list(catalog().values()),
                   today=TODAY)
    assert intent.source == "Acme Tickets" and intent.streams == []
    assert intent.destination == "postgres" and intent.purpose == "production" and intent.history_start is None
    assert any("whole history" in n for n in intent.notes) and any("not a known source" in n for n in intent.notes)
    assert parse("stripe customers into duckdb as a poc", list(catalog().values()), today=TODAY).destination == "duckdb"


def test_offline_prefills_a_session(workspace):
    s = Session(workspace)
    p = prefill(s, "stripe customers and invoices since January, daily, production", today=TODAY)
    assert p.answered_by == "offline rules"
    assert s.state.source == "stripe" and s.state.streams == ["customers", "invoices"]
    req = s.state.requirements
    assert (req.frequency, req.history_start, req.purpose) == ("daily", "2025-01-01", "production")
    assert p.text().startswith("Understood by offline rules: source Stripe; streams customers, invoices")


def test_gemini_prefills_a_session_and_names_are_checked_here(fake_gemini, workspace):
    fake_gemini.answer({"source": "stripe", "streams": ["Customers", "refund_requests"], "frequency": "daily",
                        "history_start": "2025-01-01", "destination": "duckdb", "notes": ["no such stream: refunds"]})
    s = Session(workspace)
    p = prefill(s, "stripe customers and refunds since January, daily", today=TODAY)
    assert p.answered_by == "Gemini (gemini-2.5-flash)"
    assert s.state.source == "stripe" and s.state.streams == ["customers"]
    assert p.unmatched_streams == ["refund_requests"] and "No stream named refund_requests" in p.text()
    assert s.state.requirements.history_start == "2025-01-01"
    sent = fake_gemini.requests[0]
    assert "Today is 2025-03-04" in sent.prompt and "- stripe: Stripe" in sent.prompt
    assert "stripe customers and refunds since January, daily" in sent.prompt
    assert "never write code" in sent.system
    assert set(sent.schema["properties"]) >= {"source", "streams", "frequency", "history_start"}
    assert "answered_by" not in sent.schema["properties"]  # we say who answered, not the model


def test_the_factory_says_which_assistant_answers(monkeypatch, fake_gemini):
    assert get_assistant().name == "Gemini (gemini-2.5-flash)"
    monkeypatch.setenv("PURELINK_GEMINI_MODEL", "gemini-2.5-pro")
    fake_gemini.answer({"source": "stripe"})
    assistant = get_assistant()
    assert assistant.name == "Gemini (gemini-2.5-pro)"
    assert assistant.intent("stripe", sources=list(catalog().values())).answered_by == "Gemini (gemini-2.5-pro)"
    assert fake_gemini.requests[-1].model == "gemini-2.5-pro"
    monkeypatch.delenv("GEMINI_API_KEY")
    assert isinstance(get_assistant(), OfflineAssistant) and get_assistant().name == "offline rules"


def test_a_key_without_the_sdk_falls_back_and_says_why(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "purelink.assistant.gemini", None)  # as if google-genai were missing
    assistant = get_assistant(environ={"GEMINI_API_KEY": "AIzaSomething123456"})
    assert assistant.name == "offline rules" and "pip install google-genai" in assistant.note
