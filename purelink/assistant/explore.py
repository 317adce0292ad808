"""The offline assistant's way into an unknown API: guess, send a real request, keep what answers.

    explorer = Explorer("https://api.acme.example/api/v2", key)
    proposal = propose(SourceRequest(name="Acme Tickets"), [], explorer)
    explorer.log          # every request tried and what came back, shown to the user
    explorer.unresolved   # what could not be guessed: the question to ask

Collections are looked for under the base URL by the words of the API's name, the user's hints,
then common collection names; auth styles are tried in turn on a 401; pagination is found by
asking for a second page in each common way and keeping the one that returns new records. The
guesses reuse the OpenAPI importer's vocabulary (`purelink.catalog.openapi_guesses`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from purelink.assistant.models import (
    AuthProposal,
    ConnectorProposal,
    PaginationProposal,
    SourceRequest,
    StreamProposal,
)
from purelink.catalog.openapi_guesses import (
    BODY_CURSOR_FIELDS,
    BODY_CURSOR_PARAMS,
    CREATED,
    HAS_MORE,
    LIMIT_PARAMS,
    NEXT_URL,
    RECORD_CURSOR_PARAMS,
    RECORD_LISTS,
    UPDATED,
)
from purelink.discovery.probe import key_parts
from purelink.runtime.http import HttpClient, HttpError, RetryPolicy
from purelink.runtime.paginators import dig

COMMON = ("users", "customers", "contacts", "accounts", "organizations", "companies", "orders", "products",
          "invoices", "payments", "subscriptions", "tickets", "agents", "projects", "tasks", "issues", "events",
          "items")
PREFIXES = ("", "/api", "/v1", "/api/v1", "/v2", "/api/v2", "/v3", "/api/v3")
AUTHS = (AuthProposal(style="bearer"), AuthProposal(style="header", header="X-API-Key"),
         AuthProposal(style="header", header="Authorization", prefix="Token "),
         AuthProposal(style="query", param="api_key"), AuthProposal(style="basic"))
NOISE = {"api", "the", "inc", "app", "io", "com", "rest", "service", "cloud", "hq", "online"}


@dataclass
class Seen:
    """One answer: status, JSON body (or None), headers."""

    status: int
    body: Any = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    message: str = ""


@dataclass
class Found:
    path: str
    records_path: str
    records: list[dict]
    body: Any
    headers: httpx.Headers = field(default_factory=httpx.Headers)


class Explorer:
    """GET requests with the user's key against the API being discovered, each one logged."""

    def __init__(self, base_url: str | None, secret: str | None, *, budget: int = 80) -> None:
        self.base_url = (base_url or "").rstrip("/")
        self.secret = secret
        self.budget = budget
        self.log: list[str] = []
        self.unresolved: list[str] = []
        self._clients: dict[str, HttpClient] = {}

    def _client(self, auth: AuthProposal) -> HttpClient:
        key = auth.model_dump_json()
        if key not in self._clients:
            headers, params = auth_parts(auth, self.secret)
            self._clients[key] = HttpClient(self.base_url, headers={"User-Agent": "purelink", **headers},
                                            params=params or None, retry=RetryPolicy(max_attempts=2), timeout_s=15)
        return self._clients[key]

    def get(self, path: str, params: dict | None = None, auth: AuthProposal = AUTHS[0]) -> Seen | None:
        """The answer, or None once the request budget is spent."""
        if self.budget <= 0:
            return None
        self.budget -= 1
        query = f"?{urlencode(params)}" if params else ""
        how = auth.style + (f" {auth.header}" if auth.style == "header" else "")
        try:
            response = self._client(auth).get(path, params)
        except HttpError as exc:
            self.log.append(f"GET {path}{query} ({how}) -> {exc.status} {exc.api_message[:80]}")
            return Seen(exc.status, message=exc.api_message)
        except httpx.TransportError as exc:
            self.log.append(f"GET {path}{query} ({how}) -> unreachable ({type(exc).__name__})")
            return Seen(0, message=type(exc).__name__)
        try:
            body = response.json()
        except ValueError:
            body = None
        found = records_in(body)
        what = f"list of {len(found[1])} records at {found[0] or '(top level)'!r}" if found else "no list of records"
        self.log.append(f"GET {path}{query} ({how}) -> {response.status_code}, {what}")
        return Seen(response.status_code, body, response.headers)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def auth_parts(auth: AuthProposal, secret: str | None) -> tuple[dict[str, str], dict[str, str]]:
    if not secret or auth.style == "none":
        return {}, {}
    return key_parts(auth, secret, default_header="X-API-Key")


def records_in(body: Any) -> tuple[str, list[dict]] | None:
    """(records path, records) when the body holds a list of objects (or an empty list) at a usual place."""
    if isinstance(body, list):
        return ("", body) if all(isinstance(r, dict) for r in body) else None
    if not isinstance(body, dict):
        return None
    lists = [(k, v) for k, v in body.items() if isinstance(v, list) and all(isinstance(r, dict) for r in v)]
    lists.sort(key=lambda kv: RECORD_LISTS.index(kv[0]) if kv[0] in RECORD_LISTS else 99)
    if lists:
        return lists[0]
    for k, v in body.items():
        inner = records_in(v) if isinstance(v, dict) else None
        if inner and inner[0]:
            return f"{k}.{inner[0]}", inner[1]
    return None


def candidates(request: SourceRequest) -> tuple[list[str], list[str]]:
    """(paths suggested by the user's hints and the API's name, common collection paths)."""
    words = [w for w in re.findall(r"[a-z]+", request.name.lower()) if w not in NOISE]
    named = [f"/{w if w.endswith('s') else w + 's'}" for w in words[1:]]  # the first word is the vendor
    hinted = ["/" + h.strip().strip("/") for h in request.hints if h.strip()]
    first = list(dict.fromkeys([*hinted, *named]))
    return first, [f"/{c}" for c in COMMON if f"/{c}" not in first]


def propose(request: SourceRequest, rounds: list, explorer: Explorer) -> ConnectorProposal | None:
    """A connector proposal from what answered, or None (with `explorer.unresolved` saying why)."""
    if rounds:  # every guess was already checked by a request: there is no better one to offer
        explorer.unresolved.append("a working spec: the probe failed on what the API itself answered")
        return None
    if not explorer.base_url:
        explorer.unresolved.append("the API's base URL (the offline assistant cannot know it)")
        return None
    first, common = candidates(request)
    start = find_start([*first, *common[:4]], explorer)  # the name's words may not be a collection
    if start is None:
        return None
    prefix, auth, found = start
    for path in [*first, *common]:
        if explorer.budget < 12:  # keep requests for the pagination
            break
        if any(f.path == prefix + path for f in found):
            continue
        seen = explorer.get(prefix + path, auth=auth)
        hit = records_in(seen.body) if seen and seen.status == 200 else None
        if hit:
            found.append(Found(prefix + path, hit[0], hit[1], seen.body, seen.headers))
    pagination, notes = find_pagination(found[0], explorer, auth)
    shared = found[0].records_path
    streams = [stream_of(f, shared) for f in found]
    return ConnectorProposal(
        title=request.name, description=f"{request.name} (found by the offline assistant)", base_url=explorer.base_url,
        auth=auth, pagination=pagination, records_path=shared, streams=streams,
        explanation=f"found {', '.join(f.path for f in found)} by trying paths; {notes}")


def find_start(paths: list[str], explorer: Explorer) -> tuple[str, AuthProposal, list[Found]] | None:
    """The path prefix and auth style under which a first collection answers."""
    versioned = re.search(r"/(api|v\d+)(/|$)", urlsplit(explorer.base_url).path)
    refused: list[str] = []  # paths where every auth style got 401/403 (maybe another API's path)
    for prefix in ("",) if versioned else PREFIXES:
        for path in paths:
            seen = explorer.get(prefix + path)
            tries = [AUTHS[0]]
            if seen is not None and seen.status in (401, 403) and len(refused) < 2:
                for auth in AUTHS[1:]:
                    seen = explorer.get(prefix + path, auth=auth)
                    tries.append(auth)
                    if seen is None or seen.status not in (401, 403):
                        break
            if seen is None:  # the request budget is spent
                break
            hit = records_in(seen.body) if seen.status == 200 else None
            if hit:
                return prefix, tries[-1], [Found(prefix + path, hit[0], hit[1], seen.body, seen.headers)]
            if seen.status in (401, 403):
                refused.append(prefix + path)
    if refused:
        explorer.unresolved.append(f"how the key is sent, or whether it is valid: {', '.join(refused[:3])} refused "
                                   "it as a bearer token, an X-API-Key header, a Token header, an api_key "
                                   "parameter and basic auth")
    else:
        explorer.unresolved.append(f"which path lists records: none of {', '.join(paths)} answered with a list "
                                   f"under {explorer.base_url}")
    return None


def stream_of(found: Found, shared: str) -> StreamProposal:
    sample = found.records[0] if found.records else {}
    name = re.sub(r"[^a-z0-9]+", "_", found.path.rsplit("/", 1)[-1].lower()).strip("_") or "records"
    singular = name.removesuffix("s")
    key = next((k for k in ("id", f"{singular}_id", "uuid", "key") if k in sample),
               next((k for k in sample if k.endswith(("_id", "Id"))), None))
    cursor = next((f for f in (*UPDATED, *CREATED) if f in sample), None)
    return StreamProposal(name=name, path=found.path, primary_key=key, cursor_field=cursor,
                          records_path=None if found.records_path == shared else found.records_path)


def _ids(records: list[dict]) -> set[str]:
    return {repr(sorted(r.items()))[:200] if "id" not in r else str(r["id"]) for r in records}


def _new_page(seen: Seen | None, records_path: str, before: list[dict]) -> bool:
    if seen is None or seen.status != 200:
        return False
    page = dig(seen.body, records_path)
    return isinstance(page, list) and bool(page) and not (_ids(page) & _ids(before))


def find_pagination(found: Found, explorer: Explorer, auth: AuthProposal) -> tuple[PaginationProposal, str]:
    """The paging style that returns a new page, and a note saying how it was found."""
    def get(params: dict, path: str = found.path) -> Seen | None:
        return explorer.get(path, params, auth)

    limit, first, body, headers = None, found.records, found.body, found.headers
    for param in LIMIT_PARAMS[:6]:
        seen = get({param: 2})
        page = dig(seen.body, found.records_path) if seen and seen.status == 200 else None
        if isinstance(page, list) and len(page) <= 2 and (len(found.records) > 2 or not found.records):
            limit, first, body, headers = param, page, seen.body, seen.headers
            break
    base = {limit: 2} if limit else {}
    size = {"limit_param": limit, "page_size": 100 if limit else None}
    for path in NEXT_URL:
        value = dig(body, path)
        if isinstance(value, str) and value.startswith(("http", "/")) and _new_page(get({}, value), found.records_path,
                                                                                       first):
            return PaginationProposal(style="next_url", next_url_path=path, **size), f"next page URL at {path}"
    if 'rel="next"' in headers.get("link", ""):
        return PaginationProposal(style="link_header", **size), "a Link header with rel=next"
    for path in BODY_CURSOR_FIELDS:
        value = dig(body, path)
        if value in (None, "") or isinstance(value, dict | list | bool):
            continue
        leaf = path.rsplit(".", 1)[-1]
        derived = re.sub(r"^next_?", "", leaf, flags=re.IGNORECASE)
        for param in dict.fromkeys([derived[:1].lower() + derived[1:], leaf, *BODY_CURSOR_PARAMS]):
            if param and _new_page(get({**base, param: value}), found.records_path, first):
                flag = next((h for h in HAS_MORE if isinstance(dig(body, h), bool)), None)
                return (PaginationProposal(style="cursor", cursor_param=param, cursor_path=path,
                                           has_more_path=flag or path, **size),
                        f"cursor: {param} takes the body's {path}")
    flag = next((h for h in HAS_MORE if isinstance(dig(body, h), bool)), None)
    if flag and first and "id" in first[-1]:
        for param in RECORD_CURSOR_PARAMS:
            if _new_page(get({**base, param: first[-1]["id"]}), found.records_path, first):
                return (PaginationProposal(style="cursor", cursor_param=param, cursor_field="id",
                                           has_more_path=flag, **size), f"cursor: {param} takes the last id")
    for style, param, value in (("page_number", "page", 2), ("offset", "offset", len(first))):
        if first and _new_page(get({**base, param: value}), found.records_path, first):
            kind = {"page_param": param} if style == "page_number" else {"offset_param": param}
            return PaginationProposal(style=style, **kind, **size), f"{param}={value} returned new records"
    if first and limit:
        explorer.unresolved.append("how to ask for the next page: no common pagination style returned new records")
    return PaginationProposal(style="single page", **size), "no pagination found: one request per stream"
