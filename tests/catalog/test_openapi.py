"""OpenAPI 3 import: endpoints, pagination, records path, keys, time filters and auth are guessed
with a confidence and evidence, confirmed by the user, saved to the workspace, and the imported
sandbox document runs end to end into DuckDB."""

from __future__ import annotations

import functools
import http.server
import json
import threading

import duckdb
import pytest

from purelink.catalog.openapi import import_openapi, save_spec
from purelink.catalog.spec import get_spec
from purelink.errors import SourceError
from purelink.wizard import Session


def doc(path: str, params: list[dict], response: dict, *, headers: dict | None = None, security=None,
        description: str = "") -> dict:
    ok = {"description": "OK", "content": {"application/json": {"schema": response}}}
    if headers:
        ok["headers"] = headers
    return {
        "openapi": "3.1.0", "info": {"title": "Acme API", "version": "1", "description": description},
        "servers": [{"url": "https://api.acme.test/v2"}],
        "components": {"securitySchemes": security or {}},
        "paths": {path: {"get": {"summary": "List things", "parameters": params, "responses": {"200": ok}}}},
    }


def q(name: str, type_: str = "string", **schema) -> dict:
    return {"name": name, "in": "query", "schema": {"type": type_, **schema}}


ITEM = {"type": "object", "properties": {"id": {"type": "integer"}, "email": {"type": "string"},
                                         "updated_at": {"type": "string", "format": "date-time"}}}


def test_the_sandbox_document_is_proposed_with_evidence(openapi_doc):
    proposal = import_openapi(openapi_doc)
    spec = proposal.spec
    assert spec.name == "sandbox_payments"
    assert spec.base_url == "http://127.0.0.1:12111/v1"  # server variables filled with their defaults
    assert [s.name for s in spec.streams] == ["customers", "charges", "subscriptions", "invoices"]
    assert any("/customers/{customer}" in s for s in proposal.skipped)  # a single object, not a collection
    assert spec.records_path == "data"
    assert spec.pagination.style == "cursor"
    assert spec.pagination.model_extra == {"cursor_param": "starting_after", "cursor_field": "id",
                                           "has_more_path": "has_more", "limit_param": "limit",
                                           "page_size": 100}
    customers = spec.stream("customers")
    assert customers.primary_key == "id"
    assert customers.time_filter.model_dump() == {"field": "created", "gte": "created[gte]",
                                                  "lt": "created[lt]", "format": "unix", "order": "desc",
                                                  "template": None}
    assert spec.stream("subscriptions").time_filter.order == "asc"  # its description says nothing of order
    assert all(s.formats == {"created": "unix-seconds"} for s in spec.streams)  # from format: unix-time
    assert spec.auth.style == "bearer" and spec.auth.env == "SANDBOX_PAYMENTS_API_KEY"
    assert spec.rate_limit.requests_per_second == 25
    assert spec.health_check.path == "/customers" and spec.health_check.params == {"limit": 1}
    by_field = {g.field: g for g in proposal.guesses}
    assert {"pagination", "auth", "rate_limit", "customers.primary_key",
            "customers.time_filter"} <= set(by_field)
    for guess in proposal.guesses:
        assert 0 <= guess.confidence <= 1 and guess.evidence
    evidence = by_field["pagination"].evidence
    assert "starting_after" in evidence and "has_more" in evidence
    assert "most recent" not in by_field["customers.time_filter"].evidence  # evidence is ours, not copied
    text = proposal.text()
    assert "pagination" in text and "%" in text and "skipped GET /customers/{customer}" in text


def test_nothing_is_used_before_confirmation_and_corrections_apply(openapi_doc, workspace):
    proposal = import_openapi(openapi_doc)
    with pytest.raises(SourceError):
        get_spec("sandbox_payments", workspace)  # a proposal is not a connector
    spec = proposal.confirm({"name": "payments", "customers.primary_key": "id",
                             "streams": ["customers", "charges"], "rate_limit": {"requests_per_second": 10}})
    assert spec.name == "payments" and [s.name for s in spec.streams] == ["customers", "charges"]
    assert spec.rate_limit.requests_per_second == 10
    path = save_spec(spec, workspace, origin=str(openapi_doc))
    assert path == workspace / "connectors" / "payments.yaml"
    assert path.read_text().startswith("# Sandbox Payments API: imported from")
    assert get_spec("payments", workspace) == spec
    with pytest.raises(SourceError, match="no stream named"):
        proposal.confirm({"refunds.primary_key": "id"})
    with pytest.raises(SourceError, match="already a catalog source"):
        save_spec(proposal.confirm({"name": "stripe"}), workspace)


@pytest.mark.parametrize(("params", "response", "headers", "expected"), [
    ([q("page", "integer"), q("per_page", "integer", maximum=50)],
     {"type": "object", "properties": {"items": {"type": "array", "items": ITEM},
                                       "total_pages": {"type": "integer"}}}, None,
     {"style": "page_number", "page_param": "page", "limit_param": "per_page", "page_size": 50,
      "total_pages_path": "total_pages"}),
    ([q("offset", "integer"), q("limit", "integer")],
     {"type": "object", "properties": {"results": {"type": "array", "items": ITEM},
                                       "total": {"type": "integer"}}},
     None, {"style": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 100,
            "total_path": "total"}),
    ([q("limit", "integer")],
     {"type": "object", "properties": {"records": {"type": "array", "items": ITEM},
                                       "nextRecordsUrl": {"type": "string"}}}, None,
     {"style": "next_url", "next_url_path": "nextRecordsUrl", "limit_param": "limit", "page_size": 100}),
    ([q("per_page", "integer", maximum=100)], {"type": "array", "items": ITEM},
     {"Link": {"schema": {"type": "string"}}},
     {"style": "link_header", "limit_param": "per_page", "page_size": 100}),
    ([q("after"), q("limit", "integer", maximum=100)],
     {"type": "object", "properties": {
         "results": {"type": "array", "items": ITEM},
         "paging": {"type": "object", "properties": {"next": {
             "type": "object", "properties": {"after": {"type": "string"}}}}}}}, None,
     {"style": "cursor", "cursor_param": "after", "cursor_path": "paging.next.after", "has_more_path": "",
      "limit_param": "limit", "page_size": 100}),
    ([], {"type": "array", "items": ITEM}, None, {"style": "single page"}),
])
def test_pagination_styles_are_detected(params, response, headers, expected):
    proposal = import_openapi(doc("/things", params, response, headers=headers))
    pagination = proposal.spec.pagination
    assert {"style": pagination.style, **(pagination.model_extra or {})} == expected
    guess = next(g for g in proposal.guesses if g.field == "pagination")
    assert guess.confidence >= (0.4 if expected["style"] == "single page" else 0.7)


def test_records_path_key_and_iso_time_filter():
    params = [q("updated_since", format="date-time"), q("limit", "integer")]
    proposal = import_openapi(doc("/v2/things", params, {"type": "array", "items": ITEM}))
    stream = proposal.spec.stream("things")
    # the server URL ends in /v2 already: the path must not say it again (/v2/v2/things is a 404)
    assert stream.path == "/things" and proposal.spec.records_path == ""
    assert stream.primary_key == "id"
    assert stream.time_filter.model_dump() == {"field": "updated_at", "gte": "updated_since", "lt": None,
                                               "format": "iso", "order": "asc", "template": None}
    assert stream.cursor_field == "updated_at"


@pytest.mark.parametrize(("scheme", "auth"), [
    ({"type": "apiKey", "in": "header", "name": "X-Acme-Key"}, {"style": "header", "header": "X-Acme-Key"}),
    ({"type": "apiKey", "in": "query", "name": "api_key"}, {"style": "query", "param": "api_key"}),
    ({"type": "http", "scheme": "basic"}, {"style": "basic"}),
    ({"type": "oauth2", "flows": {}}, {"style": "bearer"}),
])
def test_auth_from_security_schemes(scheme, auth):
    spec = import_openapi(doc("/things", [], {"type": "array", "items": ITEM}, security={"s": scheme})).spec
    assert {k: v for k, v in spec.auth.model_dump().items() if k in auth} == auth
    assert spec.auth.env == "ACME_API_KEY"


def test_documents_that_cannot_be_imported(tmp_path):
    with pytest.raises(SourceError, match="Swagger 2"):
        import_openapi({"swagger": "2.0", "paths": {}})
    with pytest.raises(SourceError, match="no GET endpoint"):
        import_openapi(doc("/things", [], {"type": "object", "properties": {"id": {"type": "string"}}}))
    with pytest.raises(SourceError, match="Cannot read"):
        import_openapi(tmp_path / "missing.yaml")


def test_a_json_document_by_url(tmp_path, openapi_doc):
    import yaml

    (tmp_path / "openapi.json").write_text(json.dumps(yaml.safe_load(openapi_doc.read_text())))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/openapi.json"
        proposal = import_openapi(url)
    finally:
        server.shutdown()
        server.server_close()
    assert proposal.location == url and len(proposal.spec.streams) == 4


@pytest.mark.slow
def test_the_imported_sandbox_document_loads_data_end_to_end(small_sandbox, workspace, openapi_doc):
    session = Session(workspace)
    proposal = session.import_openapi(openapi_doc, base_url=small_sandbox.stripe_base_url)
    assert session.state.source is None  # not applied before confirmation
    spec = session.confirm_import()
    assert session.state.source == "sandbox_payments" and session.state.imported_from == str(openapi_doc)
    assert (workspace / "connectors" / "sandbox_payments.yaml").is_file()
    assert spec.base_url == small_sandbox.stripe_base_url == proposal.spec.base_url
    session.choose_streams(["customers", "charges"])
    session.set_requirements(executor="local")
    session.set_credential(small_sandbox.api_key)
    session.probe()
    generated = session.generate()
    assert generated.ok, [str(c) for c in generated.checks]
    assert session.test().ok
    control = session.run()
    assert control.wait(120).ok
    assert session.state.done
    con = duckdb.connect(str(workspace / "data" / "purelink.duckdb"), read_only=True)
    try:
        loaded = con.execute("SELECT count(*), count(DISTINCT id) FROM sandbox_payments.customers").fetchone()
        charges = con.execute("SELECT count(*) FROM sandbox_payments.charges").fetchone()[0]
    finally:
        con.close()
    streams = session.state.run["streams"]
    assert loaded[0] == loaded[1] == streams["customers"]["records"]
    # every customer served was loaded or set aside with its reason
    assert streams["customers"]["records"] + streams["customers"]["dead_letters"] == 150
    assert charges == streams["charges"]["records"] > 0
