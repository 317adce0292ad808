"""The sandbox's Shopify GraphQL productVariants: every variant once through opaque cursors, `first`
capped at 250, the token checked, errors and THROTTLED sent as Shopify sends them (HTTP 200), and
products whose REST listing embeds only the first 100 of their variants."""

from __future__ import annotations

import httpx
import pytest

from purelink.sandbox import serve, shopify
from purelink.sandbox.shopify_graphql import MAX_FIRST, REST_EMBED, all_variants

CUSTOMERS = 400
QUERY = ("query($first:Int!,$after:String,$query:String){ productVariants(first:$first, after:$after, "
         "query:$query){ nodes{ id updatedAt } pageInfo{ hasNextPage endCursor } } }")


@pytest.fixture(scope="module")
def api():
    with shopify_sandbox() as s:
        yield s


def shopify_sandbox():
    return serve(customers=CUSTOMERS)


@pytest.fixture
def client(api):
    served = api.sources()["shopify"]
    with httpx.Client(base_url=served["base_url"], headers={"X-Shopify-Access-Token": served["api_key"]}) as c:
        yield c


def ask(client, **variables) -> dict:
    r = client.post("/graphql.json", json={"query": QUERY, "variables": {"first": 250, **variables}})
    assert r.status_code == 200
    return r.json()


def read_all(client, **variables) -> tuple[list[str], int]:
    """Every node's id through the cursors, and the number of pages."""
    seen, after, pages = [], None, 0
    while True:
        conn = ask(client, after=after, **variables)["data"]["productVariants"]
        seen += [n["id"] for n in conn["nodes"]]
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            return seen, pages
        after = conn["pageInfo"]["endCursor"]


def test_cursors_bring_every_variant_once_and_rest_embeds_at_most_100(client):
    seen, pages = read_all(client, first=MAX_FIRST)
    products = shopify.dataset(0, CUSTOMERS)["products"]
    truth = [v["admin_graphql_api_id"] for v in all_variants(products)]
    assert seen == truth and len(set(seen)) == len(seen) and pages > 1
    widened = [p for p in products if "_variants" in p]
    assert sorted(len(p["_variants"]) for p in widened) == [101, 130, 250]
    listed = client.get("/products.json", params={"limit": 250}).json()["products"]
    assert max(len(p["variants"]) for p in listed) == REST_EMBED
    assert all("_variants" not in p for p in listed)


def test_first_is_capped_and_bad_input_comes_as_errors_with_200(client):
    for first in (0, MAX_FIRST + 1):
        errors = ask(client, first=first)["errors"]
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT" and "between 1 and 250" in errors[0]["message"]
    assert "Invalid cursor" in ask(client, after="not-a-cursor")["errors"][0]["message"]
    assert "only the productVariants" in client.post("/graphql.json", json={"query": "{ shop { name } }"}).json()[
        "errors"][0]["message"]


def test_the_query_filter_keeps_what_changed_since(client):
    truth = all_variants(shopify.dataset(0, CUSTOMERS)["products"])
    when = sorted(v["updated_at"] for v in truth)[-100]  # one zone (-05:00): text order is time order
    later, _ = read_all(client, query=f"updated_at:>='{when}'")
    assert set(later) == {v["admin_graphql_api_id"] for v in truth if v["updated_at"] >= when}
    after, _ = read_all(client, query=f"updated_at:>'{when}'")
    assert set(after) == {v["admin_graphql_api_id"] for v in truth if v["updated_at"] > when}
    assert "filters only by updated_at" in ask(client, query="sku:ABC")["errors"][0]["message"]


def test_token_and_throttle_switch(api, client):
    r = httpx.post(f"{api.sources()['shopify']['base_url']}/graphql.json", json={"query": QUERY},
                   headers={"X-Shopify-Access-Token": "shpat_wrong"})
    assert r.status_code == 401 and "Invalid API key" in r.json()["errors"]
    proto = next(p for p in api.app.protocols if p.name == "shopify")
    proto.throttle_graphql = 1
    body = ask(client)
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert body["extensions"]["cost"]["throttleStatus"]["restoreRate"] > 0
    assert "data" in ask(client)  # once only
