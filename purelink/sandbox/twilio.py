"""Twilio's REST API (2010-04-01), the list resources a loader meets: an account's Messages and Calls.

Faithful where a client can tell: HTTP Basic with the account SID as user name and the auth token
as password, else 401 with Twilio's error body (`code` 20003) and a `WWW-Authenticate` header;
`GET /2010-04-01/Accounts.json` (the authenticated account), `GET /2010-04-01/Accounts/{AccountSid}/
Messages.json` and `.../Calls.json` (another account's SID: 404, code 20404); `PageSize` 1..1000
(default 50), `Page` and `PageToken` (`PA` + the last SID of the previous page); the body holds the
records under the resource's name (`messages`, `calls`) and `next_page_uri`, a path relative to the
host that carries the paging parameters (null on the last page), with `page`, `page_size`,
`start`, `end`, `uri`, `first_page_uri` and `previous_page_uri`. Newest first, as Twilio lists
them; times in RFC 2822 (`Thu, 30 Jul 2015 20:12:31 +0000`).

Data for N (the sandbox's `customers`): N messages and N // 2 calls, all of the one account.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from urllib.parse import urlencode

from purelink.sandbox.fakes import Faker
from purelink.sandbox.protocol import Protocol, Request, Response, SandboxConfig, json_response

ACCOUNT_SID = "AC" + hashlib.md5(b"purelink-sandbox-twilio-account").hexdigest()
AUTH_TOKEN = hashlib.md5(b"purelink-sandbox-twilio-token").hexdigest()
VERSION = "/2010-04-01"
MAX_PAGE, DEFAULT_PAGE = 1000, 50
STATUSES = {"messages": ["delivered", "delivered", "delivered", "sent", "undelivered", "failed", "received"],
            "calls": ["completed", "completed", "completed", "busy", "no-answer", "failed", "canceled"]}


def create(config: SandboxConfig) -> TwilioProtocol:
    return TwilioProtocol(config)


def error(status: int, code: int, message: str) -> Response:
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}
    headers = [("WWW-Authenticate", 'Basic realm="Twilio API"')] if status == 401 else []
    return json_response(status, body, headers)


class TwilioProtocol(Protocol):
    name = "twilio"
    prefixes = (f"{VERSION}/",)

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config

    def data(self) -> dict[str, list[dict]]:
        return dataset(self.config.seed, self.config.customers)

    # -- hooks ------------------------------------------------------------------------------------

    def source(self, base_url: str) -> dict:
        # the key a client sends is the account SID (the Basic user name); the token is the password
        return {"base_url": base_url, "api_key": ACCOUNT_SID, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        response = error(429, 20429, "Too Many Requests")
        response.headers.append(("Retry-After", f"{max(1, round(retry_after))}"))
        return response

    def server_error(self, request: Request) -> Response:
        return error(500, 20500, "Internal Server Error (sandbox: injected by fail_rate)")

    def handle(self, request: Request) -> Response:
        if not authenticated(request.headers.get("authorization", "")):
            return error(401, 20003, "Authenticate")
        if request.method != "GET":
            return error(405, 20004, "Method not allowed")
        parts = [p for p in request.path.removeprefix(VERSION).split("/") if p]
        if parts == ["Accounts.json"]:
            return self._page(request, "accounts", [account()], f"{VERSION}/Accounts.json")
        if len(parts) == 3 and parts[0] == "Accounts" and parts[2] in ("Messages.json", "Calls.json"):
            if parts[1] != ACCOUNT_SID:  # Twilio hides other accounts' resources
                return error(404, 20404, f"The requested resource {request.path} was not found")
            kind = parts[2].removesuffix(".json").lower()
            return self._page(request, kind, self.data()[kind], request.path)
        return error(404, 20404, f"The requested resource {request.path} was not found")

    def _page(self, request: Request, kind: str, rows: list[dict], path: str) -> Response:
        query = dict(request.query_pairs())
        size_text = query.get("PageSize", str(DEFAULT_PAGE))
        if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PAGE:
            return error(400, 20001, f"Invalid PageSize {size_text!r}: between 1 and {MAX_PAGE}")
        size = int(size_text)
        page = int(query["Page"]) if query.get("Page", "").isdigit() else 0
        token = query.get("PageToken", "")
        if token:
            after = token.removeprefix("PA")
            start = next((i + 1 for i, r in enumerate(rows) if r["sid"] == after), None)
            if start is None:
                return error(400, 20001, f"Invalid PageToken {token!r}")
        else:
            start = page * size
        chunk = rows[start:start + size]

        def uri(**extra: object) -> str:
            return f"{path}?{urlencode({'PageSize': size, **extra})}"

        following = (uri(Page=page + 1, PageToken=f"PA{chunk[-1]['sid']}")
                     if chunk and start + len(chunk) < len(rows) else None)
        body = {kind: chunk, "end": start + max(len(chunk) - 1, 0), "first_page_uri": uri(Page=0),
                "next_page_uri": following, "page": page, "page_size": size,
                "previous_page_uri": uri(Page=page - 1) if page else None, "start": start,
                "uri": uri(Page=page, **({"PageToken": token} if token else {}))}
        return json_response(200, body)


def authenticated(header: str) -> bool:
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return user == ACCOUNT_SID and password == AUTH_TOKEN


def rfc2822(ts: int) -> str:
    return format_datetime(datetime.fromtimestamp(ts, UTC))


def account() -> dict:
    return {"sid": ACCOUNT_SID, "friendly_name": "Purelink sandbox", "status": "active", "type": "Full",
            "owner_account_sid": ACCOUNT_SID, "date_created": rfc2822(1704067200),
            "date_updated": rfc2822(1704067200), "uri": f"{VERSION}/Accounts/{ACCOUNT_SID}.json"}


def sid(prefix: str, kind: str, seed: int, i: int) -> str:
    return prefix + hashlib.md5(f"{kind}-{seed}-{i}".encode()).hexdigest()


@lru_cache(maxsize=8)
def dataset(seed: int, n: int) -> dict[str, list[dict]]:
    """Messages and calls of the sandbox account, newest first (Twilio's order)."""
    fake = Faker(f"twilio-{seed}")
    out: dict[str, list[dict]] = {"messages": [], "calls": []}
    for kind, count, prefix in (("messages", n, "SM"), ("calls", n // 2, "CA")):
        for i, created in enumerate(sorted((fake.moment() for _ in range(count)), reverse=True)):
            record_sid = sid(prefix, kind, seed, i)
            updated = fake.later(created)
            row = {"sid": record_sid, "account_sid": ACCOUNT_SID, "from": fake.phone(), "to": fake.phone(),
                   "status": fake.pick(STATUSES[kind]), "date_created": rfc2822(created),
                   "date_updated": rfc2822(updated), "api_version": "2010-04-01",
                   "uri": f"{VERSION}/Accounts/{ACCOUNT_SID}/{kind.capitalize()}/{record_sid}.json"}
            if kind == "messages":
                row |= {"body": fake.pick(["Your code is 482913", "See you at 6", "Order shipped", "Thanks!"]),
                        "direction": fake.pick(["outbound-api", "inbound"]), "num_segments": "1",
                        "price": f"-{fake.rng.randrange(40, 90) / 10000:.5f}", "price_unit": "USD",
                        "date_sent": rfc2822(created)}
            else:
                duration = fake.rng.randrange(0, 900)
                row |= {"direction": fake.pick(["outbound-api", "inbound"]), "duration": str(duration),
                        "start_time": rfc2822(created), "end_time": rfc2822(created + duration)}
            out[kind].append(row)
    return out
