"""Numbered lists with a total: the page-number and offset protocols most REST APIs speak.

`GET /numbered/customers?page=N&per_page=M` (pages counted from 1) or `?offset=K&limit=M`
answers `{"data": [...], "total": T, "total_pages": P, "has_more": bool}` over the same
customers as the Stripe protocol (same seed, same records), oldest first, so that the speed of
page-number and offset paging can be measured beside Stripe's cursor on one data set. Callers
send one of the sandbox's Stripe secret keys as a bearer token, as they would for Stripe.
"""

from __future__ import annotations

import json
import math

from purelink.sandbox import stripe_data
from purelink.sandbox.protocol import Protocol, Request, Response, SandboxConfig, json_response
from purelink.sandbox.stripe_api import DEFAULT_API_KEY

MAX_PAGE = 1000


def create(config: SandboxConfig) -> NumberedProtocol:
    return NumberedProtocol(config)


class NumberedProtocol(Protocol):
    name = "numbered"
    prefixes = ("/numbered/",)

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.keys = frozenset((DEFAULT_API_KEY, *config.api_keys))
        self._rows: list[bytes] | None = None  # built on first use: most sandboxes never page here

    def source(self, base_url: str) -> dict:
        return {"base_url": f"{base_url}/numbered", "api_key": DEFAULT_API_KEY}

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        return json_response(429, {"error": "rate limit exceeded"}, [("Retry-After", f"{max(retry_after, 0.001):.3f}")])

    def server_error(self, request: Request) -> Response:
        return json_response(500, {"error": "server error (sandbox: injected by fail_rate)"})

    def handle(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if token not in self.keys:
            return json_response(401, {"error": "send a secret key of the sandbox as a bearer token"})
        if request.method != "GET" or request.path.rstrip("/") != "/numbered/customers":
            return json_response(404, {"error": f"no such list: {request.path}"})
        params = dict(request.query_pairs())
        try:
            size = int(params.get("per_page", params.get("limit", 100)))
            start = (int(params["page"]) - 1) * size if "page" in params else int(params.get("offset", 0))
        except ValueError:
            return json_response(400, {"error": "page, per_page, offset and limit are whole numbers"})
        if not 0 < size <= MAX_PAGE or start < 0:
            return json_response(400, {"error": f"per_page/limit between 1 and {MAX_PAGE}; page from 1; offset from 0"})
        rows = self.rows()
        total = len(rows)
        # the records were encoded once: a page is a join, not a json.dumps of every record
        tail = json.dumps({"total": total, "total_pages": math.ceil(total / size),
                           "has_more": start + size < total}, separators=(",", ":")).encode()
        body = b'{"data":[' + b",".join(rows[start:start + size]) + b"]," + tail[1:]
        return Response(200, body, [("Content-Type", "application/json")])

    def rows(self) -> list[bytes]:
        if self._rows is None:
            data = stripe_data.dataset(self.config.seed, self.config.customers, self.config.drift_after)
            self._rows = [r.body for r in data["customers"]]
        return self._rows
