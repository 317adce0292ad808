"""Shopify's Admin REST API, the parts a loader meets: customers, orders and products, listed page by page.

Faithful where a client can tell: `X-Shopify-Access-Token` auth (401 `{"errors": "[API] Invalid API
key or access token ..."}`); lists in ascending id order, `limit` 1..250 (default 50), the next and
previous pages only through `Link: <...page_info=...>; rel="next"` (a request with `page_info` may
carry only `limit` and `fields`; filters belong on the first request and travel inside the cursor);
`updated_at_min/max`, `created_at_min/max`, `since_id`, `ids`, `fields`, orders' `status`
(open by default, closed, cancelled, any); `/count.json` and `/shop.json`; the leaky bucket of each
token (40 deep, 2 leak per second) reported in `X-Shopify-Shop-Api-Call-Limit: n/40` and enforced
with 429 and `Retry-After: 2.0`. Money is a string, times are in the shop's zone (-05:00).

Data for N (the sandbox's `customers`): N customers, round(1.5 N) orders, max(5, N // 20) products,
three of which have 130, 101 and 250 variants (REST embeds the first 100; GraphQL's productVariants,
in `shopify_graphql`, serves them all).
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
from functools import lru_cache
from urllib.parse import urlencode

from purelink.sandbox.fakes import Faker, encode, local, parse_time
from purelink.sandbox.protocol import Protocol, Request, Response, SandboxConfig
from purelink.sandbox.shopify_graphql import graphql, widen

DEFAULT_TOKEN = "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"
SHOP = "purelink-sandbox"
API_VERSION = "2026-10"  # the catalog spec's api_version (any dated version is served)
BUCKET, LEAK = 40, 2.0
OFFSET = -5  # the shop's time zone
PATH = re.compile(r"^/admin/api/(?P<version>\d{4}-\d{2}|unstable)/(?P<rest>.+)\.json$")
RESOURCES = ("customers", "orders", "products")
FILTERS = ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max")
PRODUCTS = [("Merino Wool Beanie", "Accessories", 24.0), ("Canvas Tote", "Bags", 18.0),
            ("Trail Runner", "Shoes", 129.0), ("Ceramic Mug", "Home", 14.5), ("Linen Shirt", "Apparel", 59.0),
            ("Leather Wallet", "Accessories", 45.0),
            ("Rain Jacket", "Apparel", 149.0), ("Espresso Beans 1kg", "Food", 32.0), ("Desk Lamp", "Home", 75.0)]


def create(config: SandboxConfig) -> ShopifyProtocol:
    return ShopifyProtocol(config)


class ShopifyError(Exception):
    def __init__(self, status: int, errors: object, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(str(errors))
        self.status, self.errors, self.headers = status, errors, headers or []

    def response(self) -> Response:
        return json_response(self.status, {"errors": self.errors}, self.headers)


def json_response(status: int, payload: object, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, encode(payload), [("Content-Type", "application/json; charset=utf-8"),
                                              *(headers or [])])


class LeakyBucket:
    """Shopify's request bucket per token: each call adds one, 2 leak out per second."""

    def __init__(self) -> None:
        self._levels: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def add(self, token: str) -> int | None:
        """The level after this call, or None when the bucket is full (the call is refused)."""
        with self._lock:
            level, stamp = self._levels.get(token, (0.0, time.monotonic()))
            now = time.monotonic()
            level = max(0.0, level - (now - stamp) * LEAK)
            if level + 1 > BUCKET:
                self._levels[token] = (level, now)
                return None
            self._levels[token] = (level + 1, now)
            return math.ceil(level + 1)


class ShopifyProtocol(Protocol):
    name = "shopify"
    prefixes = ("/admin/api/",)

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.tokens = frozenset({DEFAULT_TOKEN})
        self.bucket = LeakyBucket()
        self.throttle_graphql = 0  # a switch: the next n GraphQL calls answer THROTTLED

    def data(self) -> dict[str, list[dict]]:
        return dataset(self.config.seed, self.config.customers)

    # -- hooks ------------------------------------------------------------------------------------

    def source(self, base_url: str) -> dict:
        return {"base_url": f"{base_url}/admin/api/{API_VERSION}", "api_key": DEFAULT_TOKEN, "shop": SHOP}

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        return self._throttled(request)

    def server_error(self, request: Request) -> Response:
        return self._finish(request, ShopifyError(500, "Internal Server Error (sandbox: injected by fail_rate)")
                            .response())

    def handle(self, request: Request) -> Response:
        token = request.headers.get("x-shopify-access-token", "").strip()
        if token not in self.tokens:
            return self._finish(request, ShopifyError(401, "[API] Invalid API key or access token (unrecognized "
                                                      "login or wrong password)").response())
        level = self.bucket.add(token)
        if level is None:
            return self._throttled(request)
        try:
            response = (graphql(self, request, self.data()["products"]) if request.path.endswith("/graphql.json")
                        else self._route(request))
        except ShopifyError as err:
            response = err.response()
        response.headers.append(("X-Shopify-Shop-Api-Call-Limit", f"{level}/{BUCKET}"))
        return self._finish(request, response)

    # -- plumbing ---------------------------------------------------------------------------------

    def _throttled(self, request: Request) -> Response:
        err = ShopifyError(429, "Exceeded 2 calls per second for api client. Reduce request rates to resume "
                           "uninterrupted service.", [("Retry-After", "2.0"),
                                                      ("X-Shopify-Shop-Api-Call-Limit", f"{BUCKET}/{BUCKET}")])
        return self._finish(request, err.response())

    def _finish(self, request: Request, response: Response) -> Response:
        match = PATH.match(request.path)
        response.headers += [("X-Shopify-API-Version", match.group("version") if match else API_VERSION),
                             ("X-Request-Id", f"sandbox-{time.monotonic_ns():x}")]
        return response

    def _route(self, request: Request) -> Response:
        match = PATH.match(request.path)
        if not match or request.method != "GET":
            raise ShopifyError(404, "Not Found")
        parts = match.group("rest").split("/")
        if parts == ["shop"]:
            return json_response(200, {"shop": shop()})
        if parts[0] not in RESOURCES or len(parts) > 2:
            raise ShopifyError(404, "Not Found")
        records = self.data()[parts[0]]
        if len(parts) == 2 and parts[1] == "count":
            params = dict(request.query_pairs())
            return json_response(200, {"count": len(select(records, parts[0], params))})
        if len(parts) == 2:
            found = next((r for r in records if str(r["id"]) == parts[1]), None)
            if found is None:
                raise ShopifyError(404, "Not Found")
            return json_response(200, {parts[0][:-1]: strip(found)})
        return self._list(request, parts[0], records, match.group("version"))

    def _list(self, request: Request, resource: str, records: list[dict], version: str) -> Response:
        params = dict(request.query_pairs())
        limit = params.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 250:
            raise ShopifyError(400, {"limit": ["must be a number between 1 and 250"]})
        limit_n = int(limit)
        cursor = None
        if "page_info" in params:
            extra = sorted(set(params) - {"page_info", "limit", "fields"})
            if extra:
                message = f"cannot be combined with {', '.join(extra)}: filters go on the first request only"
                raise ShopifyError(400, {"page_info": [message]})
            cursor = read_cursor(params["page_info"])
            filters = cursor["filters"]
        else:
            filters = {k: v for k, v in params.items() if k not in ("limit", "fields", "page_info")}
        matching = select(records, resource, filters)
        if cursor is None:
            start = 0
        elif cursor["direction"] == "next":
            start = next((i for i, r in enumerate(matching) if r["id"] > cursor["last_id"]), len(matching))
        else:
            end = next((i for i, r in enumerate(matching) if r["id"] >= cursor["last_id"]), len(matching))
            start = max(0, end - limit_n)
        page = [strip(r) for r in matching[start:start + limit_n]]
        links = []
        base = f"{request.base_url}/admin/api/{version}/{resource}.json"
        keep = {k: params[k] for k in ("fields",) if k in params}
        for rel, edge, wanted in (("previous", 0, start > 0), ("next", -1, start + len(page) < len(matching))):
            if page and wanted:
                query = {"limit": limit_n, **keep,
                         "page_info": make_cursor(filters, page[edge]["id"], "next" if edge else "prev")}
                links.append(f'<{base}?{urlencode(query)}>; rel="{rel}"')
        if "fields" in params:
            wanted = [f.strip() for f in params["fields"].split(",") if f.strip()]
            page = [{k: r[k] for k in wanted if k in r} for r in page]
        return json_response(200, {resource: page}, [("Link", ", ".join(links))] if links else [])


def make_cursor(filters: dict, last_id: int, direction: str) -> str:
    raw = json.dumps({"filters": filters, "last_id": last_id, "direction": direction}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def read_cursor(token: str) -> dict:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        assert isinstance(data["filters"], dict) and isinstance(data["last_id"], int)
        assert data["direction"] in ("next", "prev")
        return data
    except (ValueError, KeyError, AssertionError, TypeError):
        raise ShopifyError(400, {"page_info": ["Invalid value."]}) from None


def select(records: list[dict], resource: str, filters: dict) -> list[dict]:
    tests = []
    for name in FILTERS:
        if name in filters:
            when = parse_time(filters[name])
            if when is None:
                raise ShopifyError(400, {name: ["must be an ISO 8601 time, e.g. 2024-01-01T00:00:00-05:00"]})
            field = name.rsplit("_", 1)[0]
            tests.append((lambda r, f=field, w=when: r[f"_{f}"] >= w) if name.endswith("min") else
                         (lambda r, f=field, w=when: r[f"_{f}"] <= w))
    if "since_id" in filters:
        since = int(filters["since_id"]) if filters["since_id"].isdigit() else 0
        tests.append(lambda r: r["id"] > since)
    if "ids" in filters:
        ids = {int(i) for i in filters["ids"].split(",") if i.strip().isdigit()}
        tests.append(lambda r: r["id"] in ids)
    if resource == "orders":
        status = filters.get("status", "open")
        if status == "open":
            tests.append(lambda r: r["closed_at"] is None and r["cancelled_at"] is None)
        elif status == "closed":
            tests.append(lambda r: r["closed_at"] is not None)
        elif status == "cancelled":
            tests.append(lambda r: r["cancelled_at"] is not None)
    if resource == "products" and "status" in filters:
        wanted = set(filters["status"].split(","))
        tests.append(lambda r: r["status"] in wanted)
    return [r for r in records if all(t(r) for t in tests)]


def strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def shop() -> dict:
    return {"id": 548380009, "name": "Purelink Sandbox Store", "email": "owner@example.com",
            "domain": f"{SHOP}.myshopify.com", "myshopify_domain": f"{SHOP}.myshopify.com", "currency": "USD",
            "iana_timezone": "America/New_York", "timezone": "(GMT-05:00) Eastern Time (US & Canada)",
            "plan_name": "basic", "country_code": "US", "created_at": "2023-11-02T09:00:00-05:00"}


def gid(kind: str, record_id: int) -> str:
    return f"gid://shopify/{kind}/{record_id}"


def _ids(fake: Faker, count: int, start: int) -> list[int]:
    out, current = [], start
    for _ in range(count):
        current += fake.rng.randrange(1, 5000)
        out.append(current)
    return out


def _times(fake: Faker, created: int) -> dict:
    updated = fake.later(created)
    return {"created_at": local(created, OFFSET), "updated_at": local(updated, OFFSET),
            "_created_at": created, "_updated_at": updated}


def address(fake: Faker, first: str, last: str) -> dict:
    city, state, code, country = fake.place()
    return {"first_name": first, "last_name": last, "company": None, "address1": fake.street(), "address2": None,
            "city": city, "province": state, "country": country, "zip": str(fake.rng.randrange(10000, 99999)),
            "phone": None, "name": f"{first} {last}", "province_code": state, "country_code": code}


def _created(fake: Faker, count: int, first_id: int) -> list[tuple[int, int]]:
    """(id, created) pairs, ids ascending with creation time."""
    return list(zip(_ids(fake, count, first_id), sorted(fake.moment() for _ in range(count))))


def product(fake: Faker, pid: int, created: int) -> dict:
    title, kind, price = fake.pick(PRODUCTS)
    times = _times(fake, created)
    sizes = fake.pick([["S", "M", "L"], ["One size"], ["38", "40", "42", "44"]])
    variants = [{"id": pid * 10 + i, "product_id": pid, "title": size, "price": f"{price:.2f}",
                 "sku": f"SKU-{pid % 100000}-{i}", "position": i + 1,
                 "inventory_quantity": fake.rng.randrange(0, 200), "option1": size,
                 "created_at": times["created_at"], "updated_at": times["updated_at"],
                 "admin_graphql_api_id": gid("ProductVariant", pid * 10 + i)} for i, size in enumerate(sizes)]
    return {"id": pid, "title": f"{title} {fake.rng.randrange(1, 99)}", "body_html": f"<p>{title}.</p>",
            "vendor": fake.pick(["Purelink Goods", "North & Co", "Atelier Sud"]), "product_type": kind,
            "handle": f"{title.lower().replace(' ', '-')}-{pid % 1000}",
            "status": fake.pick(["active"] * 8 + ["draft", "archived"]), "tags": fake.pick(["", "new", "sale"]),
            **times, "published_at": times["created_at"], "variants": variants,
            "options": [{"id": pid + 1, "product_id": pid, "name": "Size", "position": 1, "values": sizes}],
            "images": [], "image": None, "admin_graphql_api_id": gid("Product", pid)}


def customer(fake: Faker, cid: int, created: int) -> dict:
    first, last, email = fake.person()
    addr = {"id": cid + 7, "customer_id": cid, **address(fake, first, last), "default": True}
    consent = fake.pick(["subscribed", "not_subscribed", "unsubscribed"])
    phone = fake.phone().replace(" ", "").replace("-", "") if fake.chance(0.3) else None
    return {"id": cid, "email": None if fake.chance(0.03) else email, **_times(fake, created),
            "first_name": first, "last_name": last, "state": fake.pick(["enabled", "disabled", "invited"]),
            "note": None, "verified_email": fake.chance(0.9), "tax_exempt": False, "phone": phone,
            "tags": fake.pick(["", "vip", "wholesale", "newsletter"]), "currency": "USD",
            "addresses": [addr], "default_address": addr,
            "email_marketing_consent": {"state": consent, "opt_in_level": "single_opt_in", "consent_updated_at": None},
            "admin_graphql_api_id": gid("Customer", cid)}


def order(fake: Faker, oid: int, created: int, number: int, buyer: dict, products: list[dict]) -> dict:
    lines = []
    for i in range(fake.rng.randrange(1, 4)):
        item = fake.pick(products)
        variant = fake.pick(item["variants"])
        lines.append({"id": oid * 10 + i, "product_id": item["id"], "variant_id": variant["id"],
                      "title": item["title"], "variant_title": variant["title"], "sku": variant["sku"],
                      "quantity": fake.rng.randrange(1, 4), "price": variant["price"], "vendor": item["vendor"]})
    subtotal = sum(float(x["price"]) * x["quantity"] for x in lines)
    tax = round(subtotal * 0.08, 2)
    financial = fake.pick(["paid"] * 7 + ["pending", "refunded", "partially_refunded"])
    cancelled = fake.chance(0.04)
    closed = not cancelled and financial == "paid" and fake.chance(0.6)
    times = _times(fake, max(created, buyer["_created_at"]))
    done_at = local(times["_updated_at"], OFFSET)
    shipping = {k: v for k, v in buyer["default_address"].items() if k not in ("id", "customer_id", "default")}
    return {"id": oid, "admin_graphql_api_id": gid("Order", oid), "name": f"#{1001 + number}",
            "order_number": 1001 + number, "email": buyer["email"], **times, "processed_at": times["created_at"],
            "closed_at": done_at if closed else None, "cancelled_at": done_at if cancelled else None,
            "cancel_reason": "customer" if cancelled else None, "financial_status": financial,
            "fulfillment_status": "fulfilled" if closed else fake.pick([None, None, "partial"]),
            "currency": "USD", "subtotal_price": f"{subtotal:.2f}", "total_tax": f"{tax:.2f}",
            "total_discounts": "0.00", "total_price": f"{subtotal + tax:.2f}", "taxes_included": False,
            "test": False, "tags": "", "line_items": lines,
            "customer": {k: buyer[k] for k in ("id", "email", "first_name", "last_name")},
            "shipping_address": None if fake.chance(0.1) else shipping}


@lru_cache(maxsize=4)
def dataset(seed: int, n: int) -> dict[str, list[dict]]:
    """Customers, orders and products in ascending id order (ids grow with creation time)."""
    fake = Faker(f"shopify-{seed}")
    products = [product(fake, pid, t) for pid, t in _created(fake, max(5, n // 20), 632910392)]
    customers = [customer(fake, cid, t) for cid, t in _created(fake, n, 207119551)]
    count = round(1.5 * n) if customers else 0
    orders = [order(fake, oid, t, number, fake.pick(customers), products)
              for number, (oid, t) in enumerate(_created(fake, count, 450789469))]
    for item, count in zip(products[1::4], (130, 101, 250)):  # after the orders: their draws stay as they were
        widen(item, count)
    return {"customers": customers, "orders": orders, "products": products}
