"""Propose, probe, correct: an API that is in no catalog and has no OpenAPI document, from its
name to a connector spec that real requests have shown to work.

    discovery = discover(SourceRequest(name="Acme Tickets", base_url=url), key, on_round=print_round)
    print(discovery.text())          # every round: the spec tried, each request, what went wrong
    discovery.spec                   # the working ConnectorSpec (None when no round worked)

Each round the assistant proposes a spec (Gemini from what it knows and the previous rounds'
errors; the offline rules from requests they try), and `probe_connector` sends real requests
with the user's key through the runtime's `HttpClient` and paginator: page 1 with a small page
size, then page 2 the way the spec says. A failure (status, missing list, unknown parameter,
a page 2 that repeats page 1, a next page the spec misses) is described in words and goes back to
the assistant for the next round, up to three.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import httpx

from purelink.assistant.explore import Explorer
from purelink.assistant.models import AssistantError, Discovery, ProbeOutcome, Round, SourceRequest
from purelink.catalog.openapi_guesses import BODY_CURSOR_FIELDS, HAS_MORE, NEXT_URL
from purelink.catalog.spec import ConnectorSpec, catalog
from purelink.discovery.probe import make_client, paginator_for
from purelink.runtime.http import HttpClient, HttpError
from purelink.runtime.paginators import PageError, dig
from purelink.secrets.redact import redact, register

MAX_ROUNDS = 3


def discover(request: SourceRequest, secret: str | None, *, assistant=None, max_rounds: int = MAX_ROUNDS,
             on_round: Callable[[Round], None] | None = None) -> Discovery:
    """Rounds of proposal and probe until one works or `max_rounds` have failed."""
    from purelink.assistant import get_assistant

    assistant = assistant or get_assistant()
    if request.connector_name in catalog():
        raise AssistantError(f"{request.name!r} is already in the catalog as {request.connector_name}.",
                             f"Choose it as a source: {request.connector_name}.")
    if secret:
        register(secret)
    explorer = Explorer(request.base_url, secret)
    rounds: list[Round] = []
    try:
        for number in range(1, max_rounds + 1):
            start = len(explorer.log)
            proposal = assistant.propose_connector(request, rounds, explorer)
            tried = explorer.log[start:]
            if proposal is None:
                if tried:
                    rounds.append(Round(number=number, answered_by=assistant.name, guesses=tried,
                                        problem="no connector found: " + "; ".join(explorer.unresolved)))
                    _report(on_round, rounds[-1])
                break
            current = Round(number=number, answered_by=assistant.name, guesses=tried,
                            explanation=proposal.explanation)
            try:
                current.spec = proposal.to_spec(request.connector_name, base_url=request.base_url)
            except AssistantError as exc:
                current.problem = exc.message
            else:
                if not current.spec.base_url:
                    current.problem = "the spec has no base URL"
                else:
                    current.outcomes = probe_connector(current.spec, secret)
            rounds.append(current)
            _report(on_round, current)
            if current.ok:
                break
    finally:
        explorer.close()
    done = bool(rounds) and rounds[-1].ok
    return Discovery(name=request.name, base_url=request.base_url, answered_by=assistant.name, rounds=rounds,
                     question=_question(request, rounds, explorer.unresolved, done))


def _report(on_round, current: Round) -> None:
    if on_round is not None:
        on_round(current)


def _question(request: SourceRequest, rounds: list[Round], unresolved: list[str], done: bool) -> str | None:
    if done:
        return f"I could not work out {'; '.join(unresolved)}. Is that right for this API?" if unresolved else None
    if unresolved:
        return (f"I could not work out {'; '.join(unresolved)}. Give the path of a collection (for example "
                "/tickets) and, if you know it, how the key is sent, then try again.")
    return (f"No proposal for {request.name} worked in {len(rounds)} round(s). Check the base URL and the key, "
            "or give a hint: the path of one collection and a line of the API's documentation on paging.")


def probe_connector(spec: ConnectorSpec, secret: str | None, *, page_size: int = 2,
                    client: HttpClient | None = None) -> list[ProbeOutcome]:
    """Every stream of `spec` tried with real requests (two pages each); see the module docstring."""
    own = client is None
    client = client or make_client(spec, secret)
    try:
        return [probe_stream(spec, s.name, client, page_size=page_size) for s in spec.streams]
    finally:
        if own:
            client.close()


def probe_stream(spec: ConnectorSpec, name: str, client: HttpClient, *, page_size: int = 2) -> ProbeOutcome:
    s = spec.stream(name)
    out = ProbeOutcome(stream=name, ok=False)
    paginator = paginator_for(spec, name)
    path = s.records_path if s.records_path is not None else spec.records_path
    request = paginator.first(s.path, dict(s.params), page_size=page_size)
    pages: list[list] = []
    for number in (1, 2):
        shown = redact(f"GET {client.url(request.url)}" + (f"?{urlencode(request.params)}" if request.params else ""))
        try:
            response = paginator.fetch(client, request)[0]  # a GraphQL stream POSTs its query
        except PageError as exc:  # a GraphQL answer with `errors`, sent with HTTP 200
            out.requests.append(f"{shown} -> errors")
            out.problem = redact(f"page {number}: {exc}")
            return out
        except HttpError as exc:
            out.requests.append(f"{shown} -> {exc.status}")
            out.problem = redact(f"page {number} answered HTTP {exc.status}: {exc.api_message}") + _status_hint(
                exc.status, number, paginator)
            return out
        except httpx.TransportError as exc:
            out.requests.append(f"{shown} -> no answer")
            out.problem = f"cannot reach {client.base_url} ({type(exc).__name__}): check the base URL"
            return out
        try:
            body = response.json()
        except ValueError:
            out.requests.append(f"{shown} -> {response.status_code}, not JSON")
            out.problem = f"page {number} is not JSON ({response.headers.get('content-type', 'no content type')})"
            return out
        out.body_shape = body_shape(body)
        records = dig(body, path)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            out.requests.append(f"{shown} -> {response.status_code}, no list of records at {path or '(top level)'!r}")
            out.problem = (f"no list of records at records_path {path or '(top level)'!r}; "
                           f"the body is {out.body_shape}")
            return out
        out.requests.append(f"{shown} -> {response.status_code}, {len(records)} records")
        problem = _check_page(spec, name, records, pages, paginator, page_size, number)
        if problem:
            out.problem = problem
            return out
        pages.append(records)
        try:
            nxt = paginator.next(request, response, body, records)
        except PageError as exc:  # the runtime fails loudly where a cursor is missing: so does the probe
            out.problem = f"page {number}: {exc}"
            return out
        if nxt is None:
            if number == 1:
                more = _more_hint(body, response)
                if more:
                    out.problem = f"the spec found no next page ({paginator.describe()}), but {more}"
                    return out
            break
        request = nxt
    out.ok, out.records, out.pages = True, sum(map(len, pages)), len(pages)
    out.fields = sorted({k for r in pages[0] for k in r}) if pages and pages[0] else []
    return out


def _check_page(spec: ConnectorSpec, name: str, records: list[dict], pages: list[list], paginator,
                page_size: int, number: int) -> str | None:
    s = spec.stream(name)
    if records and number == 1:
        fields = sorted(records[0])
        keys = [s.primary_key] if isinstance(s.primary_key, str) else list(s.primary_key or [])
        missing = [k for k in keys if k not in records[0]]
        if missing:
            return f"the records have no field {missing[0]!r} (the primary key); their fields: {', '.join(fields)}"
        if s.cursor_field and s.cursor_field not in records[0]:
            return f"the records have no field {s.cursor_field!r} (the cursor); their fields: {', '.join(fields)}"
        if paginator.limit_param and len(records) > page_size:
            return (f"asked for {page_size} records with {paginator.limit_param}={page_size} and got {len(records)}: "
                    "the API ignores that page-size parameter")
    if number == 2 and pages:
        before = {str(r.get("id", r)) for r in pages[0]}
        repeated = [str(r.get("id", r)) for r in records if str(r.get("id", r)) in before]
        if repeated:
            return (f"page 2 repeats records of page 1 ({', '.join(repeated[:3])}): the API ignored how the next "
                    f"page was asked for ({paginator.describe()})")
    return None


def _status_hint(status: int, number: int, paginator) -> str:
    if status in (401, 403):
        return " (the key was refused: check how the spec sends it, or the key itself)"
    if status == 404 and number == 1:
        return " (no such path: check the base URL and the stream's path)"
    if status == 400 and number == 2:
        return f" (the request for page 2 was refused: check the pagination, {paginator.describe()})"
    if status == 400:
        return " (check the query parameters the spec sends, such as the page-size parameter)"
    return ""


def _more_hint(body, response: httpx.Response) -> str | None:
    """Why page 1 looks like it has a successor, when the spec's paginator found none."""
    for path in (*BODY_CURSOR_FIELDS, *NEXT_URL):
        value = dig(body, path)
        if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            return f"the body has {path} = {str(value)[:60]!r}"
    for path in HAS_MORE:
        if dig(body, path) is True:
            return f"the body has {path} = true"
    if response.links.get("next"):
        return "the response has a Link header with rel=next"
    return None


def body_shape(body, depth: int = 0) -> str:
    """A short description of a JSON value's shape (no values, except short scalars' types)."""
    if isinstance(body, dict):
        if depth >= 2:
            return f"an object with keys {', '.join(list(body)[:8])}"
        inner = ", ".join(f"{k!r}: {body_shape(v, depth + 1)}" for k, v in list(body.items())[:10])
        return "{" + inner + (", ..." if len(body) > 10 else "") + "}"
    if isinstance(body, list):
        kinds = {type(x).__name__ for x in body}
        what = "objects" if kinds == {"dict"} else "values"
        return f"a list of {len(body)} {what}"
    if body is None:
        return "null"
    return {"str": "a string", "bool": "true/false", "int": "a number", "float": "a number"}.get(
        type(body).__name__, type(body).__name__)
