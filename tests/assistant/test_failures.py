"""A failed run explained in plain words with a recipe change the user can accept: a real failing
test run (a key that may read tickets only) fixed by the offline assistant's change, Gemini's
explanation through the fake, and changes that are data, never code."""

from __future__ import annotations

import pytest

from purelink.assistant import AssistantError, OfflineAssistant, RecipeChange, SourceRequest, discover
from purelink.assistant.models import Edit
from purelink.assistant.prefill import accept_change, accept_source, explain_failure
from purelink.recipes import Recipe, SourceChoice, StreamChoice, ValidationRule
from purelink.wizard import Session


def recipe(**stream) -> Recipe:
    return Recipe(name="acme_tickets", source=SourceChoice(name="acme_tickets", credential="acme"),
                  streams=[StreamChoice(name="tickets", **stream), StreamChoice(name="agents")])


def test_a_failed_test_run_is_explained_and_fixed_by_an_accepted_change(acme, workspace):
    s = Session(workspace)
    d = discover(SourceRequest(name="Acme Tickets", base_url=acme["base_url"]), acme["api_key"],
                 assistant=OfflineAssistant())
    accept_source(s, d)
    s.choose_streams(["tickets", "agents"])
    s.set_requirements(executor="local")
    s.set_credential(acme["restricted_key"])  # the health check reads tickets: accepted
    s.probe(["tickets"])
    assert s.generate().ok
    report = s.test()
    assert not report.ok
    assert next(c for c in report.checks if c["name"] == "permissions")["status"] == "FAIL"

    e = explain_failure(s)
    assert e.answered_by == "offline rules" and e.cause == "permissions"
    assert "may not read agents (403)" in e.explanation
    assert e.change.describe() == ["remove streams.agents"]
    assert "Proposed change: Stop loading agents" in e.text()
    saved = accept_change(s, e)
    assert saved.version == 2 and [x.name for x in saved.streams] == ["tickets"]
    assert (workspace / "recipes" / "acme_tickets_tickets_agents_v2.yaml").is_file()
    assert s.state.streams == ["tickets"] and s.state.test is None
    assert s.test().ok  # the next version passes its checklist


def test_gemini_explains_with_a_change_as_data(fake_gemini):
    fake_gemini.answer({"explanation": "One in ten tickets has no valid requester email.", "cause": "validation",
                        "next_step": "Allow a few bad records, or drop the email check.",
                        "change": {"summary": "Allow 15% bad tickets", "edits": [
                            {"op": "set", "path": "streams.tickets.max_bad_share", "value_json": "0.15"}]}})
    finished = {"status": "failed", "error": "15 of 150 records of tickets failed validation, more than the 5% allowed.",
                "checks": [{"name": "schema compliance", "status": "WARN", "detail": "1 sampled record(s) failed"}]}
    from purelink.assistant import get_assistant

    e = get_assistant().explain_failure(recipe(validations=[ValidationRule(kind="email", field="requester.email")]),
                                        finished)
    assert e.answered_by == "Gemini (gemini-2.5-flash)" and e.cause == "validation"
    changed = e.change.apply(recipe())
    assert changed.streams[0].max_bad_share == 0.15 and changed.version == 1
    prompt = fake_gemini.requests[0].prompt
    assert "15 of 150 records of tickets failed validation" in prompt and "schema compliance: WARN" in prompt
    assert "name: acme_tickets" in prompt and "credential: acme" in prompt


@pytest.mark.parametrize("edit, words", [
    (Edit(op="set", path="source.credential", value_json='"stolen"'), "may not edit"),
    (Edit(op="set", path="source.base_url", value_json='"http://evil.example"'), "may not edit"),
    (Edit(op="set", path="requirements.rate_limit", value_json="__import__('os').system('id')"), "is not JSON"),
    (Edit(op="set", path="streams.tickets.max_bad_share", value_json="5"), "less than or equal to 1"),
    (Edit(op="remove", path="streams.nope"), "no stream 'nope'"),
    (Edit(op="set", path="streams.tickets", value_json="{}"), "can only be removed"),
])
def test_a_change_is_data_checked_before_use(edit, words):
    with pytest.raises(AssistantError, match=words):
        RecipeChange(summary="x", edits=[edit]).apply(recipe())


def failed_with(kind: str, message: str, **fields) -> dict:
    """A finished event as the runtime writes it: the structured cause, messages in any words."""
    return {"status": "failed", "error": message, "cause": {"kind": kind, "message": message, "guidance": "g",
                                                            **fields}}


@pytest.mark.parametrize("finished, cause, change", [
    ({"status": "failed", "error": "the API answered 401: the key was rejected",
      "checks": [{"name": "credentials", "status": "FAIL", "detail": "the API answered 401"}]}, "credentials", None),
    (failed_with("api_error", "whatever the API said", status=401, stream="tickets"), "credentials", None),
    (failed_with("validation", "40 of 50 failed", stream="tickets", rejected=40, total=50), "validation",
     ['set streams.tickets.validations = [{"kind": "required", "field": "id"}]']),
    (failed_with("validation", "10 of 100 failed", stream="tickets", rejected=10, total=100), "validation",
     ["set streams.tickets.max_bad_share = 0.15"]),
    ({**failed_with("api_error", "HTTP 429 from http://x: too many requests", status=429), "throttled": 40},
     "rate_limit", ["set requirements.rate_limit = 2.5", "set requirements.concurrency = 1"]),
    (failed_with("api_error", "forbidden", status=403, stream="agents"), "permissions", ["remove streams.agents"]),
    ({"status": "failed", "error": "cannot reach http://x",
      "checks": [{"name": "connectivity", "status": "FAIL", "detail": "cannot reach http://x"}]}, "connectivity", None),
    (failed_with("api_unreachable", "The API at http://x stopped answering", url="http://x"), "connectivity", None),
    (failed_with("source_database", "Lost the PostgreSQL source u@h:1/db"), "connectivity", None),
    (failed_with("destination", "DuckDB refused a statement: Binder Error"), "storage", None),
    (failed_with("internal", "AttributeError: x"), "other", None),
])
def test_offline_rules_for_common_failures(finished, cause, change):
    r = recipe(validations=[ValidationRule(kind="required", field="id"),
                            ValidationRule(kind="email", field="requester.email")])
    r = r.model_copy(update={"requirements": r.requirements.model_copy(update={"rate_limit": 5.0})})
    e = OfflineAssistant().explain_failure(r, finished)
    assert e.cause == cause and e.answered_by == "offline rules"
    assert (e.change.describe() if e.change else None) == change
    if e.change:
        e.change.apply(r)  # every proposed change yields a valid recipe
