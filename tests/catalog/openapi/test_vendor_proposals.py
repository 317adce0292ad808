"""The importer on real published OpenAPI documents (tests/fixtures/openapi/, trimmed by trim.py):
for the streams a data engineer would pick, the records path, key, time filter, pagination, page
size, auth, health check and the filters that include everything, each with its confidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from purelink.catalog.openapi import import_openapi, load_document
from purelink.catalog.openapi_guesses import Document
from purelink.catalog.openapi_paging import detect_pagination
from purelink.catalog.openapi_streams import records_of
from purelink.catalog.spec import catalog

DOCS = Path(__file__).parents[2] / "fixtures" / "openapi"
STRIPE = DOCS / "stripe" / "stripe.json.gz"
GITHUB = DOCS / "github" / "github.json.gz"
HUBSPOT = DOCS / "hubspot" / "hubspot_like.json"
TWILIO = DOCS / "twilio" / "twilio.json.gz"
ASANA = DOCS / "asana" / "asana.yaml.gz"


def guesses(proposal) -> dict:
    return {g.field: g for g in proposal.guesses}


def extra(pagination) -> dict:
    return {"style": pagination.style, **(pagination.model_extra or {})}


def test_every_vendored_document_has_its_licence_and_source():
    for folder in (p for p in DOCS.iterdir() if p.is_dir()):
        assert (folder / "SOURCE").read_text().strip()
        if folder.name != "hubspot":  # written for the tests: HubSpot's own are not licensed for reuse
            assert "Permission is hereby granted" in (folder / "LICENSE").read_text() or \
                "Apache License" in (folder / "LICENSE").read_text()
    assert sum(f.stat().st_size for f in DOCS.rglob("*") if f.is_file()) < 3_000_000


def test_stripe():
    proposal = import_openapi(STRIPE)
    spec, by = proposal.spec, guesses(proposal)
    assert spec.name == "stripe_imported" and "stripe" in catalog()  # never the catalog's name
    assert spec.base_url == "https://api.stripe.com" and spec.records_path == "data"
    picked = ["customers", "charges", "subscriptions", "invoices"]
    assert set(picked) <= {s.name for s in spec.streams}
    assert extra(spec.pagination) == {"style": "cursor", "cursor_param": "starting_after", "cursor_field": "id",
                                      "has_more_path": "has_more", "limit_param": "limit", "page_size": 100}
    assert "between 1 and 100" in by["customers.page_size"].evidence and by["customers.page_size"].confidence >= 0.8
    for name in picked:
        stream = spec.stream(name)
        assert stream.path == f"/v1/{name}" and stream.primary_key == "id"
        assert (stream.time_filter.field, stream.time_filter.gte, stream.time_filter.lt,
                stream.time_filter.format) == ("created", "created[gte]", "created[lt]", "unix")
        assert by[f"{name}.time_filter"].confidence >= 0.8
    # `format: unix-time` fields become the streams' formats (TIMESTAMPTZ); expandable objects
    # (`customer`, an id unless expanded) are not searched for them
    assert spec.stream("customers").formats == {"created": "unix-seconds", "discount.end": "unix-seconds",
                                                "discount.start": "unix-seconds"}
    invoices = spec.stream("invoices").formats
    assert {"created", "due_date", "period_start", "status_transitions.paid_at"} <= set(invoices)
    assert set(invoices.values()) == {"unix-seconds"} and not any(f.startswith("customer.") for f in invoices)
    assert by["invoices.formats"].confidence >= 0.8 and "unix-time" in by["invoices.formats"].evidence
    # the catalog declares at least what Stripe's document says (current_period_* moved to the items
    # in the API version the catalog pins)
    for name in picked:
        catalog_formats = catalog()["stripe"].stream(name).formats
        assert {f for f in spec.stream(name).formats if not f.startswith("current_period")} <= set(catalog_formats)
    # subscriptions exclude canceled ones unless asked for all
    assert spec.stream("subscriptions").params == {"status": "all"}
    assert by["subscriptions.params.status"].confidence >= 0.8 and "all" in by["subscriptions.params.status"].evidence
    assert (spec.auth.style, by["auth"].confidence >= 0.8) == ("bearer", True)
    skipped = "\n".join(proposal.skipped)
    for path in ("/v1/account:", "/v1/invoices/upcoming:", "/v1/balance:", "/v1/customers/{customer}:"):
        assert f"GET {path} the response is" in skipped
    assert "GET /v1/customers/search: needs the query parameter(s) query" in skipped
    assert not {"account", "upcoming", "search", "balance"} & {s.name for s in spec.streams}
    # the health check follows the streams the user keeps
    assert spec.health_check.path == "/v1/customers"
    assert proposal.confirm({"streams": ["charges", "invoices"]}).health_check.path == "/v1/charges"
    # a base URL that ends in /v1 already: the paths lose their /v1 (no /v1/v1/customers)
    moved = import_openapi(STRIPE, base_url="http://127.0.0.1:9/v1").spec
    assert moved.stream("customers").path == "/customers"


def test_stripe_search_page_is_a_cursor_token():
    doc, _ = load_document(STRIPE)
    d = Document(doc)
    op = doc["paths"]["/v1/customers/search"]["get"]
    params = {p["name"]: p for p in map(d.resolve, op["parameters"]) if p.get("in") == "query"}
    _, _, body = records_of(d, op["responses"]["200"]["content"]["application/json"]["schema"])
    pagination, conf, evidence = detect_pagination(d, params, body, set(), "", "id")
    assert pagination["style"] == "cursor" and pagination["cursor_param"] == "page" and conf >= 0.8
    assert pagination["cursor_path"] == "next_page" and "page_number" not in evidence


def test_github():
    proposal = import_openapi(GITHUB, name="gh")
    spec, by = proposal.spec, guesses(proposal)
    issues, pulls = spec.stream("issues"), spec.stream("pulls")
    assert issues.path == "/repos/{owner}/{repo}/issues" and pulls.path == "/repos/{owner}/{repo}/pulls"
    assert {"owner", "repo"} <= set(spec.variables)  # asked in the wizard, --var on the command line
    assert spec.records_path == "" and issues.primary_key == pulls.primary_key == "id"
    # state defaults to open: 517 of 1,282 issues; every state is asked for, and the proposal says so
    assert issues.params == {"state": "all"} and pulls.params == {"state": "all"}
    assert "default 'open' leaves records out" in by["issues.params.state"].evidence
    assert (issues.time_filter.field, issues.time_filter.gte, issues.time_filter.format) == ("updated_at", "since", "iso")
    assert pulls.time_filter is None
    # /repositories' `since` is a repository id, not a time
    assert spec.stream("repositories").time_filter is None
    assert extra(spec.pagination) == {"style": "link_header", "limit_param": "per_page", "page_size": 100}
    assert "max 100" in by["issues.page_size"].evidence  # not the default of 30
    # no securitySchemes: unsure, so a question, never silently "no auth"
    assert by["auth"].confidence < 0.8 and "unsure" in by["auth"].evidence
    assert "auth" in {g.field for g in proposal.questions(["issues", "pulls"])}
    assert spec.rate_limit.headers == ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]
    narrowed = proposal.confirm({"streams": ["issues", "pulls"]})
    assert narrowed.health_check.path == "/repos/{owner}/{repo}/issues"  # not /app/hook/deliveries (App JWT)
    assert set(narrowed.variables) == {"owner", "repo"}


def test_hubspot_shaped_document():
    proposal = import_openapi(HUBSPOT)
    spec, by = proposal.spec, guesses(proposal)
    assert spec.records_path == "results"
    for name in ("contacts", "companies"):
        assert spec.stream(name).primary_key == "id"
        assert spec.stream(name).description == "List " + name  # no HTML
    assert extra(spec.pagination) == {"style": "cursor", "cursor_param": "after", "cursor_path": "paging.next.after",
                                      "has_more_path": "", "limit_param": "limit", "page_size": 100}
    assert "max 100" in by["contacts.page_size"].evidence  # not the default of 10
    # an apiKey header `private-app` is a bearer token; still a question, not 85% sure
    assert spec.auth.style == "bearer" and by["auth"].confidence < 0.8
    objects = spec.stream("objects")  # the generic {objectType} endpoint is a stream with a variable
    assert objects.path == "/crm/v3/objects/{objectType}" and "objectType" in spec.variables
    assert by["contacts.params.archived"].confidence < 0.8  # a narrowing filter with no 'all': asked


def test_twilio():
    proposal = import_openapi(TWILIO)
    spec, by = proposal.spec, guesses(proposal)
    messages, calls = spec.stream("messages"), spec.stream("calls")
    assert messages.path == "/2010-04-01/Accounts/{AccountSid}/Messages.json" and "AccountSid" in spec.variables
    assert (messages.records_path, calls.records_path) == ("messages", "calls")
    assert messages.primary_key == calls.primary_key == "sid"
    assert extra(spec.pagination) == {"style": "next_url", "next_url_path": "next_page_uri",
                                      "limit_param": "PageSize", "page_size": 1000}
    assert spec.auth.style == "basic" and by["auth"].confidence < 0.8  # SID and token: asked
    # two secrets, named after the scheme `accountSid_authToken` (Twilio's own variable names)
    assert (spec.auth.env, spec.auth.password_env) == ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
    assert all(not s.name.startswith(("s_", "stream_")) for s in spec.streams)


def test_asana_yaml():
    proposal = import_openapi(ASANA)
    spec = proposal.spec
    assert {"tasks", "projects", "users", "workspaces"} <= {s.name for s in spec.streams}
    assert spec.records_path == "data" and spec.stream("projects").primary_key == "gid"
    assert extra(spec.pagination) == {"style": "cursor", "cursor_param": "offset", "cursor_path": "next_page.offset",
                                      "has_more_path": "", "limit_param": "limit", "page_size": 100}
    assert spec.auth.style == "bearer" and spec.base_url == "https://app.asana.com/api/1.0"


@pytest.mark.parametrize("location", [STRIPE, GITHUB, HUBSPOT, TWILIO, ASANA], ids=lambda p: p.parent.name)
def test_every_guess_below_80_percent_is_a_question(location):
    proposal = import_openapi(location)
    asked = {g.field for g in proposal.questions()}
    for g in proposal.guesses:
        assert 0 <= g.confidence <= 1 and g.evidence
        assert (g.field in asked) == (g.confidence < 0.8) or g.field.startswith("variables.")
    text = proposal.text()
    assert all(f"? {g.field} =" in text for g in proposal.uncertain())
    assert {"health_check", "concurrency", "rate_limit", "auth"} <= {g.field for g in proposal.guesses}
    assert "<" not in "".join(s.description for s in proposal.spec.streams)
