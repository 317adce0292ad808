"""Shopify's GraphQL Admin API, the part a loader of variants meets: `productVariants`.

POST /admin/api/{version}/graphql.json with `{"query": ..., "variables": {"first": n, "after": c}}`
answers `{"data": {"productVariants": {"nodes": [...], "pageInfo": {...}}}}` in ascending id order;
`first` is 1..250, cursors are opaque. Faults come as Shopify sends them, with HTTP 200 and an
`errors` list: a query this sandbox does not serve, bad variables, and THROTTLED (with
`extensions.cost.throttleStatus`) while the protocol's `throttle_graphql` switch counts down.
The `query` variable filters by `updated_at:>'<ISO time>'` (or `>=`). Some products have more variants than the 100 the REST products list embeds.
"""

from __future__ import annotations

import base64
import json
import re

from purelink.sandbox.fakes import parse_time
from purelink.sandbox.protocol import Request, Response, json_response

MAX_FIRST = 250
REST_EMBED = 100  # variants embedded in a REST product: the rest only through GraphQL
SINCE = re.compile(r"^\s*updated_at:>(?P<eq>=?)'?(?P<when>[^' ]+)'?\s*$")  # the one search filter served


def widen(product: dict, count: int) -> None:
    """Give a product `count` variants (ids pid*1000+i, clear of the usual pid*10+i): the REST
    product keeps the first 100, the full list waits in `_variants`."""
    pid, first = product["id"], product["variants"][0]
    variants = [{**first, "id": pid * 1000 + i, "title": f"Edition {i + 1}", "sku": f"SKU-{pid % 100000}-E{i}",
                 "position": i + 1, "option1": f"Edition {i + 1}", "inventory_quantity": (pid + i) % 200,
                 "admin_graphql_api_id": f"gid://shopify/ProductVariant/{pid * 1000 + i}"} for i in range(count)]
    product["_variants"], product["variants"] = variants, variants[:REST_EMBED]
    product["options"][0]["values"] = [v["title"] for v in variants]


def all_variants(products: list[dict]) -> list[dict]:
    """Every variant of every product, as the GraphQL API knows them (not cut at 100)."""
    return sorted((v for p in products for v in p.get("_variants", p["variants"])), key=lambda v: v["id"])


def node(variant: dict) -> dict:
    return {"id": variant["admin_graphql_api_id"], "legacyResourceId": str(variant["id"]), "sku": variant["sku"],
            "title": variant["title"], "price": variant["price"], "inventoryQuantity": variant["inventory_quantity"],
            "updatedAt": variant["updated_at"], "product": {"id": f"gid://shopify/Product/{variant['product_id']}"}}


def errors(messages: list[str], **extensions: object) -> Response:
    return json_response(200, {"errors": [{"message": m, **({"extensions": extensions} if extensions else {})}
                                          for m in messages]})


def graphql(protocol, request: Request, products: list[dict]) -> Response:
    """One POST to graphql.json (the token was checked by the caller)."""
    if request.method != "POST":
        return json_response(405, {"errors": "Method Not Allowed: GraphQL takes POST"})
    try:
        payload = json.loads(request.body or b"{}")
        query, variables = payload["query"], payload.get("variables") or {}
        assert isinstance(query, str) and isinstance(variables, dict)
    except (ValueError, KeyError, AssertionError):
        return json_response(400, {"errors": "Bad Request: a JSON body with a query is required"})
    if "productVariants" not in query:
        return errors(["This sandbox serves only the productVariants query"])
    first = variables.get("first")
    if not isinstance(first, int) or not 1 <= first <= MAX_FIRST:
        return errors([f"The 'first' argument must be between 1 and {MAX_FIRST}"], code="BAD_USER_INPUT")
    if protocol.throttle_graphql > 0:
        protocol.throttle_graphql -= 1
        cost = first + 2
        return json_response(200, {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                                   "extensions": {"cost": {"requestedQueryCost": cost, "actualQueryCost": None,
                                                           "throttleStatus": {"maximumAvailable": 2000.0,
                                                                              "currentlyAvailable": cost - 5,
                                                                              "restoreRate": 100.0}}}})
    matching = all_variants(products)
    if variables.get("query"):
        since = SINCE.match(str(variables["query"]))
        when = parse_time(since.group("when")) if since else None
        if since is None or when is None:
            return errors([f"This sandbox filters only by updated_at:>'<ISO time>', not {variables['query']!r}"])
        matching = [v for v in matching if (parse_time(v["updated_at"]) or 0) > when - bool(since.group("eq"))]
    start = 0
    if variables.get("after") is not None:
        try:
            last = int(json.loads(base64.urlsafe_b64decode(str(variables["after"]) + "==="))["last_id"])
        except (ValueError, KeyError, TypeError):
            return errors(["Invalid cursor for current pagination sort."], code="BAD_USER_INPUT")
        start = next((i for i, v in enumerate(matching) if v["id"] > last), len(matching))
    page = matching[start:start + first]
    end = (base64.urlsafe_b64encode(json.dumps({"last_id": page[-1]["id"]}).encode()).decode().rstrip("=")
           if page else None)
    info = {"hasNextPage": start + len(page) < len(matching), "hasPreviousPage": start > 0, "endCursor": end,
            "startCursor": None}
    return json_response(200, {"data": {"productVariants": {"nodes": [node(v) for v in page], "pageInfo": info}},
                               "extensions": {"cost": {"requestedQueryCost": first + 2}}})
