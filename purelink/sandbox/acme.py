"""Acme Tickets: a small help-desk SaaS API that is deliberately in no catalog and has no OpenAPI
document, so the only ways to a pipeline are the assistant's guesses, probed against it.

What a client meets (base URL `/api/v2`): `Authorization: Bearer <token>`, else 401; collections
`GET /api/v2/tickets`, `/agents` and `/organizations` answering `{"items": [...], "next_cursor": ...}`
in id order, `next_cursor` an opaque string while more records remain and null on the last page;
`?page_size=` 1..100 (default 25), `?cursor=` the previous page's `next_cursor`, `?updated_since=`
an ISO time. The API is strict: an unknown query parameter, a bad cursor or page size is a 400
naming the problem, as many real APIs do. `GET /api/v2/tickets/{id}` (and agents, organizations)
returns one record. A restricted token may read tickets only (403 elsewhere). Errors are
`{"error": {"code", "message"}}`; every answer carries `X-RateLimit-Limit` and `X-RateLimit-Remaining`
(per token and minute, reported, not enforced: the sandbox's shared limit enforces).

Data for N (the sandbox's `customers`): N tickets, max(3, N // 40) agents, max(2, N // 10)
organizations; times in 2024-2025 like the other protocols' data.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from functools import lru_cache

from purelink.sandbox.fakes import Faker, encode, parse_time, utc
from purelink.sandbox.protocol import Protocol, Request, Response, SandboxConfig

DEFAULT_TOKEN = "acme_live_7Q2mXw9RkP4sT8vZ3nB6yL1c"
RESTRICTED_TOKEN = "acme_ro_tickets_H5jD2kF9qW3e"
COLLECTIONS = ("tickets", "agents", "organizations")
PARAMS = frozenset({"cursor", "page_size", "updated_since"})
PER_MINUTE = 600
SUBJECTS = ["Cannot log in", "Invoice is wrong", "Export to CSV fails", "How do I add a user?", "Refund request",
            "Password reset email never arrives", "Feature request: dark mode", "App crashes on upload"]
TAGS = ["billing", "login", "bug", "feature", "mobile", "urgent", "vip", "refund"]
PLANS = ["free", "team", "business", "enterprise"]


def create(config: SandboxConfig) -> AcmeProtocol:
    return AcmeProtocol(config)


class AcmeError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        return json_response(self.status, {"error": {"code": self.code, "message": self.message}})


def json_response(status: int, payload: object, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, encode(payload), [("Content-Type", "application/json"), *(headers or [])])


class MinuteCounter:
    """Requests per token in the current minute, for the X-RateLimit-Remaining header."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def take(self, token: str) -> int:
        minute = int(time.time() // 60)
        with self._lock:
            key = (token, minute)
            self._counts = {k: v for k, v in self._counts.items() if k[1] == minute}
            self._counts[key] = self._counts.get(key, 0) + 1
            return max(0, PER_MINUTE - self._counts[key])


class AcmeProtocol(Protocol):
    name = "acme"
    prefixes = ("/api/v2/", "/api/v2")

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.counter = MinuteCounter()

    def source(self, base_url: str) -> dict:
        return {"base_url": f"{base_url}/api/v2", "api_key": DEFAULT_TOKEN, "restricted_key": RESTRICTED_TOKEN}

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        response = AcmeError(429, "rate_limited", "Too many requests; slow down (sandbox rate limit).").response()
        response.headers.append(("Retry-After", f"{max(1, round(retry_after))}"))
        return response

    def server_error(self, request: Request) -> Response:
        return AcmeError(500, "internal", "Something went wrong on our side (sandbox: injected by fail_rate).").response()

    def handle(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or token not in (DEFAULT_TOKEN, RESTRICTED_TOKEN):
            return AcmeError(401, "unauthorized", "Missing or invalid bearer token. Send "
                             "'Authorization: Bearer <token>' with a token from Settings > API.").response()
        remaining = self.counter.take(token)
        try:
            response = self._route(request, restricted=token == RESTRICTED_TOKEN)
        except AcmeError as err:
            response = err.response()
        response.headers += [("X-RateLimit-Limit", str(PER_MINUTE)), ("X-RateLimit-Remaining", str(remaining))]
        return response

    def _route(self, request: Request, *, restricted: bool) -> Response:
        parts = [p for p in request.path[len("/api/v2"):].split("/") if p]
        if request.method != "GET" or not parts or parts[0] not in COLLECTIONS or len(parts) > 2:
            raise AcmeError(404, "not_found", f"No route {request.method} {request.path}. "
                            "See https://developer.acme.example/docs.")
        kind = parts[0]
        if restricted and kind != "tickets":
            raise AcmeError(403, "forbidden", f"This token may read tickets only, not {kind}.")
        records = dataset(self.config.seed, self.config.customers)[kind]
        if len(parts) == 2:
            found = next((r for r in records if str(r["id"]) == parts[1]), None)
            if found is None:
                raise AcmeError(404, "not_found", f"No {kind[:-1]} with id {parts[1]}.")
            return json_response(200, found)
        return json_response(200, page(kind, records, request.query_pairs()))


def page(kind: str, records: list[dict], pairs: list[tuple[str, str]]) -> dict:
    """One page of a collection, after checking the query as strictly as the real thing would."""
    unknown = sorted({name for name, _ in pairs} - PARAMS)
    if unknown:
        raise AcmeError(400, "invalid_parameter", f"Unknown query parameter '{unknown[0]}'. "
                        f"Allowed: {', '.join(sorted(PARAMS))}.")
    params = dict(pairs)
    size = params.get("page_size", "25")
    if not size.isdigit() or not 1 <= int(size) <= 100:
        raise AcmeError(400, "invalid_parameter", f"page_size must be between 1 and 100, got {size!r}.")
    if "updated_since" in params:
        since = parse_time(params["updated_since"])
        if since is None:
            raise AcmeError(400, "invalid_parameter", "updated_since must be an ISO 8601 time, "
                            f"got {params['updated_since']!r}.")
        records = [r for r in records if parse_time(r["updated_at"]) >= since]
    after = decode_cursor(kind, params["cursor"]) if params.get("cursor") else 0
    rest = [r for r in records if r["id"] > after]
    chunk = rest[:int(size)]
    more = len(rest) > len(chunk)
    return {"items": chunk, "next_cursor": encode_cursor(kind, chunk[-1]["id"]) if more else None}


def encode_cursor(kind: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        name, _, last = text.partition(":")
        if name == kind and last.isdigit():
            return int(last)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise AcmeError(400, "invalid_cursor", "The cursor is not one this endpoint issued; pass next_cursor "
                    "from the previous page unchanged.")


@lru_cache(maxsize=8)
def dataset(seed: int, n: int) -> dict[str, list[dict]]:
    """Records of each collection in id order."""
    fake = Faker(f"acme-{seed}")
    orgs = []
    for i in range(max(2, n // 10)):
        name, domain = fake.company()
        created = fake.moment()
        orgs.append({"id": 700 + i * 3, "name": name, "domain": domain, "plan": fake.pick(PLANS),
                     "seats": fake.rng.randrange(1, 500), "created_at": utc(created)})
    agents = []
    for i in range(max(3, n // 40)):
        first, last, email = fake.person()
        agents.append({"id": 40 + i, "name": f"{first} {last}", "email": email,
                       "role": "admin" if i == 0 else fake.pick(["agent", "agent", "lead"]),
                       "active": not fake.chance(0.1), "created_at": utc(fake.moment())})
    tickets = []
    next_id = 10000
    for created in sorted(fake.moment() for _ in range(n)):
        next_id += fake.rng.randrange(1, 4)
        first, last, email = fake.person()
        channel = fake.pick(["email", "web", "chat", "phone"])
        status = fake.pick(["open", "pending", "solved", "closed"])
        tickets.append({
            "id": next_id, "subject": fake.pick(SUBJECTS), "status": status,
            "priority": fake.pick(["low", "normal", "normal", "high", "urgent", None]),
            "channel": channel,
            "requester": {"name": f"{first} {last}", "email": None if channel == "phone" else email,
                          "phone": fake.phone() if channel == "phone" else None},
            "assignee_id": None if status == "open" and fake.chance(0.5) else fake.pick(agents)["id"],
            "organization_id": fake.pick(orgs)["id"] if fake.chance(0.8) else None,
            "tags": sorted(set(fake.rng.sample(TAGS, fake.rng.randrange(0, 3)))),
            "created_at": utc(created), "updated_at": utc(fake.later(created)),
        })
    return {"tickets": tickets, "agents": agents, "organizations": orgs}
