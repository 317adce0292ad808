"""Propose, probe, correct against APIs the sandbox serves: what the probe reports for each kind of
wrong guess, the three-round limit with Gemini, and the offline heuristics' own guesses."""

from __future__ import annotations

import pytest

from purelink.assistant import AssistantError, OfflineAssistant, SourceRequest, discover, probe_connector
from purelink.assistant.models import ConnectorProposal
from purelink.catalog.spec import get_spec

ACME = {
    "title": "Acme Tickets", "auth": {"style": "bearer"},
    "pagination": {"style": "cursor", "cursor_param": "cursor", "cursor_path": "next_cursor",
                   "limit_param": "page_size"},
    "records_path": "items", "streams": [{"name": "tickets", "path": "/tickets", "cursor_field": "updated_at"}],
}


def acme_spec(acme, **changes):
    data = {**ACME, **changes}
    if "pagination" in changes:
        data["pagination"] = {**ACME["pagination"], **changes["pagination"]}
    return ConnectorProposal.model_validate(data).to_spec("acme_tickets", base_url=acme["base_url"])


def test_a_right_spec_passes_with_two_pages(acme):
    [outcome] = probe_connector(acme_spec(acme), acme["api_key"])
    assert outcome.ok and outcome.pages == 2 and outcome.records == 4
    assert {"id", "requester", "updated_at"} <= set(outcome.fields)


@pytest.mark.parametrize("changes, words", [
    ({"records_path": "data"}, ("no list of records at records_path 'data'; the body is {'items': a list of 2 "
                               "objects, 'next_cursor': a string}")),
    ({"pagination": {"cursor_param": "page_token"}}, ("page 2 answered HTTP 400: Unknown query parameter "
                                                     "'page_token'")),
    ({"pagination": {"cursor_path": "meta.next"}}, ("found no next page (cursor (cursor from body meta.next)), but "
                                                   "the body has next_cursor = ")),
    ({"pagination": {"limit_param": "limit"}}, "Unknown query parameter 'limit'"),
    ({"auth": {"style": "header", "header": "X-API-Key"}}, "page 1 answered HTTP 401"),
    ({"streams": [{"name": "tickets", "path": "/ticket"}]}, "HTTP 404"),
    ({"streams": [{"name": "tickets", "path": "/tickets", "primary_key": "ticket_id"}]},
     "no field 'ticket_id' (the primary key)"),
])
def test_each_wrong_guess_is_reported_in_words(acme, changes, words):
    [outcome] = probe_connector(acme_spec(acme, **changes), acme["api_key"])
    assert not outcome.ok and words in outcome.problem
    assert acme["api_key"] not in outcome.problem + " ".join(outcome.requests)


def test_a_page_that_repeats_the_first_one_is_caught(sandbox):
    """GitHub ignores unknown parameters, so a wrong page parameter returns page 1 again."""
    gh = sandbox.sources()["github"]
    spec = get_spec("github").resolved(base_url=gh["base_url"])
    data = spec.model_dump()
    data["streams"] = [dict(s, params={}) for s in data["streams"] if s["name"] == "pull_requests"]
    data["pagination"] = {"style": "page_number", "page_param": "pg", "limit_param": "per_page"}
    [outcome] = probe_connector(type(spec).model_validate(data), gh["api_key"])
    assert not outcome.ok and "page 2 repeats records of page 1" in outcome.problem


def test_gemini_gets_three_rounds_then_a_question(fake_gemini, acme):
    for path in ("data", "results", "records"):
        fake_gemini.answer({**ACME, "records_path": path, "explanation": f"records under {path}"})
    shown = []
    d = discover(SourceRequest(name="Acme Tickets", base_url=acme["base_url"]), acme["api_key"],
                 on_round=shown.append)
    assert not d.ok and d.spec is None and len(d.rounds) == 3 == len(shown)
    assert "Round 3 (Gemini (gemini-2.5-flash)): failed" in d.text() and "why: records under records" in d.text()
    assert d.question and "No proposal for Acme Tickets worked in 3 round(s)" in d.question
    third = fake_gemini.requests[2].prompt
    assert "Round 1 was tried and failed" in third and "Round 2 was tried and failed" in third
    assert "no list of records at records_path 'results'" in third and "'items': a list of 2 objects" in third


def test_an_unusable_proposal_counts_as_a_failed_round(fake_gemini, sandbox, acme):
    fake_gemini.answer({**ACME, "base_url": None})  # and the user gave none
    fake_gemini.answer({**ACME, "base_url": acme["base_url"]})
    d = discover(SourceRequest(name="Acme Tickets"), acme["api_key"])
    assert [r.problem for r in d.rounds] == ["the spec has no base URL", None] and d.ok
    assert "Problem with the proposal: the spec has no base URL" in fake_gemini.requests[1].prompt
    assert "The user gave no base URL" in fake_gemini.requests[0].prompt


def test_catalog_sources_are_not_rediscovered():
    with pytest.raises(AssistantError, match="already in the catalog"):
        discover(SourceRequest(name="Stripe", base_url="http://127.0.0.1:9"), "sk_test_x", assistant=OfflineAssistant())


def test_offline_finds_the_api_below_a_bare_host(sandbox, acme):
    """Given only the host, the common prefixes are tried; a 401 from another API's path is not
    taken for a wrong auth style."""
    d = discover(SourceRequest(name="Acme Tickets", base_url=sandbox.url), acme["api_key"],
                 assistant=OfflineAssistant())
    assert d.ok, d.text()
    assert d.spec.stream("tickets").path == "/api/v2/tickets"
    assert any(g.startswith("GET /v1/tickets") for g in d.rounds[0].guesses)


def test_offline_says_what_it_could_not_guess(sandbox, acme):
    d = discover(SourceRequest(name="Acme Tickets", base_url=f"{sandbox.url}/nothing/here"), acme["api_key"],
                 assistant=OfflineAssistant())
    assert not d.ok and len(d.rounds) == 1 and d.rounds[0].guesses
    assert "which path lists records" in d.question and "Give the path of a collection" in d.question
    wrong_key = discover(SourceRequest(name="Acme Tickets", base_url=acme["base_url"]), "acme_live_notakey12345",
                         assistant=OfflineAssistant())
    assert not wrong_key.ok and "how the key is sent, or whether it is valid" in wrong_key.question
    hinted = discover(SourceRequest(name="Zeta", base_url=acme["base_url"], hints=["organizations"]),
                      acme["api_key"], assistant=OfflineAssistant())
    assert hinted.ok and hinted.spec.streams[0].name == "organizations"
    assert hinted.rounds[0].guesses[0].startswith("GET /organizations")
