"""Stripe's v1 API, the parts a loader meets: list, retrieve, and create/update of customers.

Faithful to Stripe's documented behaviour where it is cheap: newest-first lists with `limit`
(1..100, default 10), `starting_after` / `ending_before` cursors, `created` filters
(`created=N`, `created[gt|gte|lt|lte]=N`); form-encoded bodies; Bearer or Basic auth; error
bodies `{"error": {"type", "message", "code", "param", "doc_url"}}` with `type` one of the
documented values (`invalid_request_error`, `api_error`). Keys:

- `DEFAULT_API_KEY` and any `api_keys` given: full access.
- `DEFAULT_RESTRICTED_KEY` and any `restricted_keys`: read customers only; anything else is 403.

Not modelled: `expand` (accepted, ignored), deleting, any other resource.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from purelink.sandbox import stripe_data
from purelink.sandbox.listing import Record, Table, View
from purelink.sandbox.protocol import Protocol, Request, Response, SandboxConfig, json_response

DEFAULT_API_KEY = "sk_test_sandbox_4Vq8ZbN2mK7xR3tLw9HcP5dJ"
DEFAULT_RESTRICTED_KEY = "rk_test_sandbox_7Hn3QeX9sW2vB6kTz4MfR8yC"
API_VERSION = "2024-06-20"  # answered when the client names none
SUPPORT = "Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
KEY_PREFIX = re.compile(r"^(sk|rk|pk)_(test|live)_")
PARAM = re.compile(r"^([A-Za-z_]+)(?:\[([^\]]*)\])?$")
CREATED_OPS = ("gt", "gte", "lt", "lte")
CUSTOMER_FIELDS = ("address", "balance", "description", "email", "name", "phone", "metadata",
                   "preferred_locales", "tax_exempt", "expand")
ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")


def create(config: SandboxConfig) -> StripeProtocol:
    return StripeProtocol(config)


def mask(key: str) -> str:
    """A key as Stripe shows it in errors: the `sk_test_` prefix and at most the last 4 characters."""
    match = KEY_PREFIX.match(key)
    prefix = match.group(0) if match else ""
    rest = key[len(prefix):]
    tail = rest[-4:] if len(rest) >= 12 else ""
    return prefix + "*" * (len(rest) - len(tail)) + tail


class StripeError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param
        self.headers = headers or []

    def response(self) -> Response:
        err: dict = {"message": self.message, "type": self.type}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            err["param"] = self.param
        return json_response(self.status, {"error": err}, self.headers)


def missing(kind: str, object_id: str, param: str, status: int = 404) -> StripeError:
    return StripeError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def equals(field: str) -> Callable[[dict, str], bool]:
    return lambda obj, value: obj.get(field) == value


def status_is(obj: dict, value: str) -> bool:
    return value == "all" or obj.get("status") == value


@dataclass(frozen=True)
class Resource:
    object: str
    filters: dict[str, Callable[[dict, str], bool]]


RESOURCES = {
    "customers": Resource("customer", {"email": equals("email")}),
    "charges": Resource("charge", {"customer": equals("customer")}),
    "subscriptions": Resource("subscription", {"customer": equals("customer"), "status": status_is}),
    "invoices": Resource("invoice", {"customer": equals("customer"), "status": equals("status"),
                                     "subscription": equals("subscription")}),
}


class StripeProtocol(Protocol):
    name = "stripe"
    prefixes = ("/v1/", "/v1")

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.full_keys = frozenset((DEFAULT_API_KEY, *config.api_keys))
        self.read_keys = frozenset((DEFAULT_RESTRICTED_KEY, *config.restricted_keys)) - self.full_keys
        data = stripe_data.dataset(config.seed, config.customers, config.drift_after)
        self.tables = {name: Table(rows) for name, rows in data.items()}
        self._new_ids = random.Random(f"posted-{config.seed}")
        self._write_lock = threading.RLock()  # held across an idempotent write and the write itself
        self._replays: OrderedDict[str, tuple[str, bytes, Response]] = OrderedDict()

    # -- hooks --------------------------------------------------------------------------------

    def source(self, base_url: str) -> dict:
        return {"base_url": f"{base_url}/v1", "api_key": DEFAULT_API_KEY, "restricted_key": DEFAULT_RESTRICTED_KEY}

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        err = StripeError(429, "Request rate limit exceeded. Learn more about rate limits here "
                          "https://stripe.com/docs/rate-limits.", code="rate_limit",
                          headers=[("Retry-After", f"{max(retry_after, 0.001):.3f}")])
        return self._finish(request, err.response())

    def server_error(self, request: Request) -> Response:
        err = StripeError(500, "An unknown error occurred (sandbox: injected by fail_rate). Retry the request.",
                          type="api_error", headers=[("Stripe-Should-Retry", "true")])
        return self._finish(request, err.response())

    def handle(self, request: Request) -> Response:
        try:
            response = self._route(request, *self._authenticate(request))
        except StripeError as err:
            response = err.response()
        return self._finish(request, response)

    # -- plumbing -----------------------------------------------------------------------------

    def _finish(self, request: Request, response: Response) -> Response:
        response.headers += [
            ("Stripe-Version", request.headers.get("stripe-version") or API_VERSION),
            ("Cache-Control", "no-cache, no-store"),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", "GET, HEAD, PUT, PATCH, POST, DELETE"),
            ("Access-Control-Expose-Headers", "Request-Id, Stripe-Manage-Version, Stripe-Should-Retry"),
            ("Access-Control-Max-Age", "300"),
        ]
        if request.method == "POST" and "idempotency-key" in request.headers:
            response.headers.append(("Idempotency-Key", request.headers["idempotency-key"]))
        return response

    def _authenticate(self, request: Request) -> tuple[str, str]:
        """The access ('full' or 'read') and the key; a missing or unknown key is a 401 that masks it."""
        scheme, _, credential = request.headers.get("authorization", "").strip().partition(" ")
        key = None
        if scheme.lower() == "bearer":
            key = credential.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(credential.strip(), validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        if not key:
            raise StripeError(401, "You did not provide an API key. You need to provide your API key in the "
                              "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                              "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                              "or we can help at https://support.stripe.com/.",
                              headers=[("WWW-Authenticate", 'Basic realm="Stripe"')])
        if key in self.full_keys:
            return "full", key
        if key in self.read_keys:
            return "read", key
        raise StripeError(401, f"Invalid API Key provided: {mask(key)}",
                          headers=[("WWW-Authenticate", 'Basic realm="Stripe"')])

    def _route(self, request: Request, access: str, key: str) -> Response:
        parts = request.path.strip("/").split("/")
        resource = parts[1] if len(parts) in (2, 3) and parts[0] == "v1" else None
        if resource not in RESOURCES or request.method not in ("GET", "POST") or (
                request.method == "POST" and resource != "customers"):
            raise StripeError(404, f"Unrecognized request URL ({request.method}: {request.path}). {SUPPORT}")
        if access == "read" and (resource != "customers" or request.method != "GET"):
            verb = "read" if request.method == "GET" else "write"
            raise StripeError(403, f"The provided key '{mask(key)}' does not have "
                              "the required permissions for this endpoint on account 'acct_sandbox'. Having the "
                              f"'rak_{RESOURCES[resource].object}_{verb}' permission would allow this request "
                              "to continue.")
        object_id = parts[2] if len(parts) == 3 else None
        if request.method == "GET":
            return self._retrieve(resource, object_id) if object_id else self._list(resource, request)
        return self._idempotent(request, lambda: self._write_customer(request, object_id))

    # -- reading ------------------------------------------------------------------------------

    def _retrieve(self, resource: str, object_id: str) -> Response:
        record = self.tables[resource].get(object_id)
        if record is None:
            raise missing(RESOURCES[resource].object, object_id, "id")
        return Response(200, record.body, [("Content-Type", "application/json")])

    def _list(self, resource: str, request: Request) -> Response:
        spec, table = RESOURCES[resource], self.tables[resource]
        limit, after, before = 10, None, None
        gte: int | None = None
        lte: int | None = None
        filters: list[tuple[Callable[[dict, str], bool], str]] = []
        for name, value in request.query_pairs():
            match = PARAM.match(name)
            base, sub = (match.group(1), match.group(2)) if match else (name, None)
            if base == "expand":
                continue
            if base == "created" and sub in (None, *CREATED_OPS):
                when = integer(name, value)
                op = sub or "eq"
                if op in ("gte", "gt", "eq"):
                    gte = max(gte or when, when + (op == "gt"))
                if op in ("lte", "lt", "eq"):
                    lte = min(lte if lte is not None else when, when - (op == "lt"))
            elif sub is None and base == "limit":
                limit = integer(name, value)
                if not 1 <= limit <= 100:
                    bound = "greater than or equal to 1" if limit < 1 else "less than or equal to 100"
                    raise StripeError(400, f"This value must be {bound}.", param="limit")
            elif sub is None and base in ("starting_after", "ending_before"):
                if not value:
                    raise empty(name)
                record = table.get(value)
                if record is None:
                    raise missing(spec.object, value, name, status=400)
                after, before = (record.key, before) if base == "starting_after" else (after, record.key)
            elif sub is None and base in spec.filters:
                filters.append((spec.filters[base], value))
            else:
                raise StripeError(400, f"Received unknown parameter: {name}", param=name)
        if after is not None and before is not None:
            raise StripeError(400, "You may only specify one of these parameters: ending_before, starting_after.",
                              param="ending_before")
        view: View = table.view()
        if filters:
            view = table.filtered(lambda obj: all(test(obj, value) for test, value in filters))
        rows, more = view.page(created_gte=gte, created_lte=lte, after=after, before=before, limit=limit)
        return list_response(f"/v1/{resource}", rows, more)

    # -- writing ------------------------------------------------------------------------------

    def _idempotent(self, request: Request, write: Callable[[], Response]) -> Response:
        key = request.headers.get("idempotency-key")
        if not key:
            return write()
        with self._write_lock:
            seen = self._replays.get(key)
            if seen is None:
                response = write()
                if response.status < 500:
                    self._replays[key] = (request.path, request.body, Response(response.status, response.body,
                                                                                 list(response.headers)))
                    while len(self._replays) > 10_000:
                        self._replays.popitem(last=False)
                return response
        path, body, response = seen
        if (path, body) != (request.path, request.body):
            raise StripeError(400, "Keys for idempotent requests can only be used with the same parameters they "
                              f"were first used with. Try using a key other than '{key}' if you meant to execute "
                              "a different request.", type="idempotency_error")
        return Response(response.status, response.body, [*response.headers, ("Idempotent-Replayed", "true")])

    def _write_customer(self, request: Request, object_id: str | None) -> Response:
        params = nested_form(request.form_pairs())
        for name in params:
            if name not in CUSTOMER_FIELDS:
                raise StripeError(400, f"Received unknown parameter: {name}", param=name)
        table = self.tables["customers"]
        with self._write_lock:
            if object_id is None:
                obj = self._new_customer(table)
                apply_customer_params(obj, params)
                if self.config.drift_after is not None and len(table) >= self.config.drift_after:
                    stripe_data.drift(obj)
            else:
                old = table.get(object_id)
                if old is None:
                    raise missing("customer", object_id, "id")
                obj = json.loads(old.body)
                apply_customer_params(obj, params)
                if "loyalty_tier" in obj:  # a drifted record keeps its drifted type
                    obj["balance"] = float(obj["balance"])
            record = Record(obj["id"], obj["created"], obj, stripe_data.encode(obj))
            table.put(record)
        return Response(200, record.body, [("Content-Type", "application/json")])

    def _new_customer(self, table: Table) -> dict:
        obj = json.loads(stripe_data.templates()["customer"])
        while True:
            new_id = "cus_" + "".join(self._new_ids.choices(stripe_data.ALNUM, k=14))
            if table.get(new_id) is None:
                break
        obj.update(id=new_id, created=int(time.time()), currency=None, next_invoice_sequence=1,
                   invoice_prefix="".join(self._new_ids.choices("0123456789ABCDEF", k=8)))
        return obj


def list_response(url: str, rows: list[Record], more: bool) -> Response:
    body = b"".join((b'{"object":"list","data":[', b",".join(r.body for r in rows),
                     b'],"has_more":', b"true" if more else b"false", b',"url":', json.dumps(url).encode(), b"}"))
    return Response(200, body, [("Content-Type", "application/json")])


def empty(param: str) -> StripeError:
    return StripeError(400, f"You passed an empty string for '{param}'. We assume empty values are an attempt to "
                       f"unset a parameter; however '{param}' cannot be unset. You should remove '{param}' from "
                       "your request or supply a non-empty value.", param=param)


def integer(param: str, value: str) -> int:
    if not value:
        raise empty(param)
    try:
        return int(value)
    except ValueError:
        raise StripeError(400, f"Invalid integer: {value}", param=param) from None


def nested_form(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding: `metadata[plan]=pro`, `preferred_locales[]=en` or `[0]=en`."""
    out: dict = {}
    for name, value in pairs:
        head, _, rest = name.partition("[")
        keys = [head, *re.findall(r"\[([^\]]*)\]", "[" + rest)] if rest else [head]
        node: dict | list = out
        for key, nxt in itertools.pairwise(keys):
            if not isinstance(node, dict):
                raise StripeError(400, f"Invalid array: {name}", param=name)
            want = list if nxt == "" or nxt.isdigit() else dict
            if not isinstance(node.get(key), want):
                node[key] = want()
            node = node[key]
        if isinstance(node, list):
            node.append(value)
        else:
            node[keys[-1]] = value
    return out


def apply_customer_params(obj: dict, params: dict) -> None:
    for name, value in params.items():
        if name == "expand":
            continue
        if name == "metadata":
            if value == "":
                obj["metadata"] = {}
            elif isinstance(value, dict):
                meta = dict(obj.get("metadata") or {})
                for k, v in value.items():
                    if v == "":
                        meta.pop(k, None)
                    else:
                        meta[k] = v
                obj["metadata"] = meta
            else:
                raise StripeError(400, "Invalid object", param="metadata")
        elif name == "address":
            if value == "":
                obj["address"] = None
            elif isinstance(value, dict):
                for k in value:
                    if k not in ADDRESS_FIELDS:
                        raise StripeError(400, f"Received unknown parameter: address[{k}]", param=f"address[{k}]")
                obj["address"] = {k: value.get(k) or None for k in ADDRESS_FIELDS}
            else:
                raise StripeError(400, "Invalid object", param="address")
        elif name == "balance":
            obj["balance"] = integer("balance", value)
        elif name == "preferred_locales":
            obj["preferred_locales"] = [] if value == "" else list(value) if isinstance(value, list) else [value]
        elif name == "tax_exempt":
            if value not in ("none", "exempt", "reverse"):
                raise StripeError(400, "Invalid tax_exempt: must be one of none, exempt, or reverse",
                                  param="tax_exempt")
            obj["tax_exempt"] = value
        elif isinstance(value, str):
            obj[name] = value or None
        else:
            raise StripeError(400, "Invalid string", param=name)
