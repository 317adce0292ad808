"""What the sandbox server and a protocol module agree on.

A protocol module (one per API the sandbox speaks, e.g. `stripe_api`) exposes
`create(config: SandboxConfig) -> Protocol`. The server routes every request whose path starts
with one of the protocol's `prefixes` to `Protocol.handle`, after applying the shared faults
(rate limit, latency, injected failures), whose error bodies the protocol shapes. Adding a
protocol is a new module plus one line in `PROTOCOL_MODULES`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

# Import paths of the protocol modules the sandbox serves, in routing order.
PROTOCOL_MODULES: tuple[str, ...] = ("purelink.sandbox.stripe_api", "purelink.sandbox.salesforce",
                                     "purelink.sandbox.shopify", "purelink.sandbox.github",
                                     "purelink.sandbox.hubspot", "purelink.sandbox.twilio",
                                     "purelink.sandbox.acme",  # acme: in no catalog, for the assistant
                                     "purelink.sandbox.numbered")  # page-number and offset lists with a total


@dataclass(frozen=True)
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    customers: int = 3421
    latency_ms: float = 0
    rate_limit: float | None = None
    fail_rate: float = 0.0
    drift_after: int | None = None
    api_keys: tuple[str, ...] = ()
    restricted_keys: tuple[str, ...] = ()
    log_requests: bool = False


#: the settings that decide what a sandbox answers (its data and its faults), as GET /_sandbox/config tells them
SERVED = ("seed", "customers", "latency_ms", "rate_limit", "fail_rate", "drift_after")


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    base_url: str = ""  # scheme://host:port as the client addressed the sandbox

    def query_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)

    def form_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, payload: object, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, body, [("Content-Type", "application/json"), *(headers or [])])


class Protocol:
    """One API dialect. Subclasses set `name` and `prefixes` and implement the four hooks."""

    name: str = ""
    prefixes: tuple[str, ...] = ()

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        """The answer to a request refused by the shared rate limit (status 429)."""
        raise NotImplementedError

    def server_error(self, request: Request) -> Response:
        """The answer to a request picked by the injected failure rate (status 500, retryable)."""
        raise NotImplementedError

    def source(self, base_url: str) -> dict:
        """How a client reaches this protocol: at least `base_url` and a key it accepts."""
        raise NotImplementedError
