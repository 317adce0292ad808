"""HubSpot's CRM API v3, the parts a loader meets: listing contacts, companies, deals and tickets.

Faithful where a client can tell: `Authorization: Bearer <private app token>`, else 401 with
`category: INVALID_AUTHENTICATION`; `GET /crm/v3/objects/{type}` (by name or by object type id such
as `0-1`) answering `results` in id order and, while more remain, `paging.next.after` (the next
cursor, absent on the last page) and `paging.next.link`; `limit` 1..100 (default 10); only the
`properties` asked for (comma-separated or repeated) plus `createdate`, `hs_object_id` and the
last-modified date, every value a string or null; unknown property names ignored; `archived=true`
for archived records only; `GET /crm/v3/objects/{type}/{id}`; `GET /crm/v3/properties/{type}` for
the field list. Each token may send 100 requests per rolling 10 seconds (429 `RATE_LIMIT` beyond),
reported in `X-HubSpot-RateLimit-*` headers with the daily allowance. Errors carry `status`,
`message`, `correlationId` and `category`.

Data for N (the sandbox's `customers`): N contacts, max(1, N // 4) companies, N // 2 deals and
N // 3 tickets; about 3 % of each are archived.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from functools import lru_cache
from urllib.parse import urlencode

from purelink.sandbox.fakes import INDUSTRIES, Faker, encode, utc
from purelink.sandbox.protocol import Protocol, Request, Response, SandboxConfig

DEFAULT_TOKEN = "pat-na1-5f0c3a2e-8b1d-4c7e-9a6f-2d4b8e1c0a97"
WINDOW_S, WINDOW_MAX, DAILY = 10.0, 100, 250000
OBJECTS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tickets": "0-5"}
MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate",
            "tickets": "hs_lastmodifieddate"}
DEFAULTS = {"contacts": ["email", "firstname", "lastname"], "companies": ["domain", "name"],
            "deals": ["amount", "closedate", "dealname", "dealstage", "pipeline"],
            "tickets": ["content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority",
                        "subject"]}
STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
          "contractsent", "closedwon", "closedlost"]
LIFECYCLE = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"]


def create(config: SandboxConfig) -> HubSpotProtocol:
    return HubSpotProtocol(config)


class HubSpotError(Exception):
    def __init__(self, status: int, message: str, category: str, **extra: str) -> None:
        super().__init__(message)
        self.status, self.message, self.category, self.extra = status, message, category, extra

    def response(self) -> Response:
        key = "errorType" if self.category == "RATE_LIMIT" else "category"
        body = {"status": "error", "message": self.message, "correlationId": str(uuid.uuid4()), key: self.category,
                **self.extra}
        return json_response(self.status, body)


def json_response(status: int, payload: object, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, encode(payload), [("Content-Type", "application/json;charset=utf-8"), *(headers or [])])


class RollingWindow:
    """At most WINDOW_MAX requests per token in any WINDOW_S seconds, and a daily count."""

    def __init__(self) -> None:
        self._calls: dict[str, deque[float]] = {}
        self._daily: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, token: str) -> tuple[bool, int, int]:
        """(allowed, remaining in the window, remaining today)."""
        with self._lock:
            now = time.monotonic()
            calls = self._calls.setdefault(token, deque())
            while calls and calls[0] <= now - WINDOW_S:
                calls.popleft()
            allowed = len(calls) < WINDOW_MAX
            if allowed:
                calls.append(now)
                self._daily[token] = self._daily.get(token, 0) + 1
            return allowed, WINDOW_MAX - len(calls), DAILY - self._daily.get(token, 0)


class HubSpotProtocol(Protocol):
    name = "hubspot"
    prefixes = ("/crm/v3/",)

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.tokens = frozenset({DEFAULT_TOKEN})
        self.window = RollingWindow()

    def data(self) -> dict[str, list[dict]]:
        return dataset(self.config.seed, self.config.customers)

    # -- hooks ------------------------------------------------------------------------------------

    def source(self, base_url: str) -> dict:
        return {"base_url": base_url, "api_key": DEFAULT_TOKEN}

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        response = HubSpotError(429, "You have reached your secondly limit (sandbox rate limit).", "RATE_LIMIT",
                                policyName="SECONDLY").response()
        response.headers.append(("Retry-After", f"{max(1, round(retry_after))}"))
        return response

    def server_error(self, request: Request) -> Response:
        return HubSpotError(500, "internal error (sandbox: injected by fail_rate)", "INTERNAL_ERROR").response()

    def handle(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.tokens:
            return HubSpotError(401, "Authentication credentials not found. This API supports OAuth 2.0 "
                                "authentication and you can find more details at "
                                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                                "INVALID_AUTHENTICATION").response()
        allowed, remaining, daily = self.window.take(token.strip())
        if not allowed:
            response = HubSpotError(429, "You have reached your ten_secondly_rolling limit.", "RATE_LIMIT",
                                    policyName="TEN_SECONDLY_ROLLING").response()
        else:
            try:
                response = self._route(request)
            except HubSpotError as err:
                response = err.response()
        response.headers += [("X-HubSpot-RateLimit-Interval-Milliseconds", str(int(WINDOW_S * 1000))),
                             ("X-HubSpot-RateLimit-Max", str(WINDOW_MAX)),
                             ("X-HubSpot-RateLimit-Remaining", str(remaining)),
                             ("X-HubSpot-RateLimit-Daily", str(DAILY)),
                             ("X-HubSpot-RateLimit-Daily-Remaining", str(daily))]
        return response

    # -- routes -----------------------------------------------------------------------------------

    def _route(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p][2:]  # after crm, v3
        if request.method != "GET" or len(parts) not in (2, 3) or parts[0] not in ("objects", "properties"):
            raise HubSpotError(404, f"No route for {request.method} {request.path}", "OBJECT_NOT_FOUND")
        kind = object_type(parts[1])
        if parts[0] == "properties":
            return json_response(200, {"results": properties(kind)})
        pairs = request.query_pairs()
        archived = dict(pairs).get("archived", "false").lower() == "true"
        wanted = [p.strip() for name, value in pairs if name == "properties" for p in value.split(",") if p.strip()]
        wanted = wanted or DEFAULTS[kind]
        records = [r for r in self.data()[kind] if r["archived"] == archived]
        if len(parts) == 3:
            found = next((r for r in self.data()[kind] if r["id"] == parts[2]), None)
            if found is None:
                raise HubSpotError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
            return json_response(200, shape(found, kind, wanted))
        params = dict(pairs)
        limit = params.get("limit", "10")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise HubSpotError(400, f"limit must be between 1 and 100, got {limit!r}", "VALIDATION_ERROR")
        after = params.get("after")
        start = 0
        if after:
            if not after.isdigit():
                raise HubSpotError(400, f"Invalid input JSON : after must be numeric, got {after!r}",
                                   "VALIDATION_ERROR")
            start = next((i for i, r in enumerate(records) if int(r["id"]) >= int(after)), len(records))
        page = records[start:start + int(limit)]
        body: dict = {"results": [shape(r, kind, wanted) for r in page]}
        if start + len(page) < len(records):
            cursor = records[start + len(page)]["id"]
            query = [(k, v) for k, v in pairs if k != "after"] + [("after", cursor)]
            body["paging"] = {"next": {"after": cursor,
                                       "link": f"{request.base_url}/crm/v3/objects/{parts[1]}?{urlencode(query)}"}}
        return json_response(200, body)


def object_type(name: str) -> str:
    for kind, type_id in OBJECTS.items():
        if name.lower() in (kind, type_id):
            return kind
    raise HubSpotError(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")


def shape(record: dict, kind: str, wanted: list[str]) -> dict:
    names = dict.fromkeys([*wanted, "createdate", "hs_object_id", MODIFIED[kind]])
    props = {n: record["properties"].get(n) for n in names if n in record["properties"]}
    out = {"id": record["id"], "properties": props, "createdAt": record["createdAt"],
           "updatedAt": record["updatedAt"], "archived": record["archived"]}
    if record["archived"]:
        out["archivedAt"] = record["updatedAt"]
    return out


def properties(kind: str) -> list[dict]:
    sample = dataset(0, 4)[kind][0]["properties"]
    out = []
    for name in sorted(sample):
        kind_of = ("datetime" if name.endswith(("date", "lastmodifieddate")) else
                   "number" if name in ("amount", "numberofemployees", "annualrevenue", "hs_object_id") else "string")
        out.append({"name": name, "label": name.replace("hs_", "").replace("_", " ").capitalize(), "type": kind_of,
                    "fieldType": "date" if kind_of == "datetime" else kind_of if kind_of == "number" else "text",
                    "groupName": f"{kind[:-1]}information", "hubspotDefined": True, "archived": False})
    return out


@lru_cache(maxsize=8)
def dataset(seed: int, n: int) -> dict[str, list[dict]]:
    """Records by object type in id order; `properties` holds every property as a string or None."""
    fake = Faker(f"hubspot-{seed}")
    out: dict[str, list[dict]] = {}
    counts = {"companies": max(1, n // 4), "contacts": n, "deals": n // 2, "tickets": n // 3}
    for kind in ("companies", "contacts", "deals", "tickets"):
        records, next_id = [], {"companies": 5000, "contacts": 51, "deals": 9000, "tickets": 3000}[kind]
        for created in sorted(fake.moment() for _ in range(counts[kind])):
            next_id += fake.rng.randrange(1, 40)
            updated = fake.later(created)
            props = {"createdate": utc(created, ms=True), "hs_object_id": str(next_id),
                     MODIFIED[kind]: utc(updated, ms=True), **values(fake, kind, created, out)}
            records.append({"id": str(next_id), "properties": props, "createdAt": utc(created, ms=True),
                            "updatedAt": utc(updated, ms=True), "archived": fake.chance(0.03)})
        out[kind] = records
    return out


def values(fake: Faker, kind: str, created: int, done: dict) -> dict[str, str | None]:
    if kind == "companies":
        name, domain = fake.company()
        city, _, _, country = fake.place()
        return {"name": name, "domain": domain, "industry": fake.pick(INDUSTRIES).upper(),
                "numberofemployees": str(fake.rng.randrange(5, 5000)),
                "annualrevenue": None if fake.chance(0.3) else str(fake.rng.randrange(1, 900) * 100000),
                "city": city, "country": country, "lifecyclestage": fake.pick(LIFECYCLE)}
    if kind == "contacts":
        first, last, email = fake.person()
        company = fake.pick(done["companies"])["properties"]["name"] if done.get("companies") else None
        return {"email": None if fake.chance(0.04) else email, "firstname": first, "lastname": last,
                "phone": fake.phone() if fake.chance(0.5) else None, "company": company,
                "jobtitle": fake.pick(["CEO", "Marketing Manager", "Engineer", "Buyer", None]),
                "lifecyclestage": fake.pick(LIFECYCLE),
                "hs_lead_status": fake.pick(["NEW", "OPEN", "IN_PROGRESS", "CONNECTED", None])}
    if kind == "deals":
        stage = fake.pick(STAGES)
        return {"dealname": f"{fake.company()[0]} - {fake.pick(['New business', 'Renewal', 'Upsell'])}",
                "amount": str(fake.rng.randrange(5, 900) * 100), "pipeline": "default", "dealstage": stage,
                "closedate": utc(created + fake.rng.randrange(7, 120) * 86400, ms=True),
                "hs_is_closed_won": "true" if stage == "closedwon" else "false"}
    return {"subject": fake.pick(["Cannot log in", "Invoice question", "Feature request", "Bug report"]),
            "content": fake.pick([None, "Please help.", "Details in the attachment."]), "hs_pipeline": "0",
            "hs_pipeline_stage": fake.pick(["1", "2", "3", "4"]),
            "hs_ticket_priority": fake.pick(["LOW", "MEDIUM", "HIGH", None]),
            "hs_ticket_category": fake.pick(["PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", None])}
