"""A GraphQL connection read as a REST stream (Shopify's productVariants): every record once across
pages, a THROTTLED answer (sent with HTTP 200) waited out without losing a page, and an `errors`
answer failing its stream with the API's message. Against the sandbox over HTTP."""

from __future__ import annotations

import io
import json
from collections import Counter

import duckdb
import pytest

from purelink.engine import Engine
from purelink.recipes import parse_recipe
from purelink.runtime.auth import HeaderAuth
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.events import EventWriter
from purelink.runtime.graphql import throttle_wait
from purelink.runtime.paginators import GraphQLPagination
from purelink.runtime.pipeline import run
from purelink.runtime.sources.rest import RestSource, Stream
from purelink.sandbox import shopify
from purelink.sandbox.shopify_graphql import REST_EMBED, all_variants

CUSTOMERS = 1000
QUERY = ("query($first:Int!,$after:String){ productVariants(first:$first, after:$after){ nodes{ id sku "
         "updatedAt product{ id } } pageInfo{ hasNextPage endCursor } } }")


def truth(seed: int = 0) -> list[dict]:
    return all_variants(shopify.dataset(seed, CUSTOMERS)["products"])


def protocol(api):
    return next(p for p in api.app.protocols if p.name == "shopify")


@pytest.fixture
def api(sandbox_factory):
    return sandbox_factory(customers=CUSTOMERS)


def load(api, tmp_path, query: str = QUERY, page_size: int = 250) -> tuple[dict, list[dict], duckdb.DuckDBPyConnection]:
    served = api.sources()["shopify"]
    source = RestSource("shopify", served["base_url"], auth=HeaderAuth("X-Shopify-Access-Token", "SHOPIFY_TOKEN"))
    stream = Stream("product_variants", path="/graphql.json", records_path="data.productVariants.nodes",
                    paginator=GraphQLPagination(query=query, page_info_path="data.productVariants.pageInfo",
                                                page_size=page_size))
    out = io.StringIO()
    finished = run(source, [stream], pipeline="variants", destination=DuckDBDestination(tmp_path / "v.duckdb"),
                   events=EventWriter("t", stream=out))
    events = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    return finished, events, duckdb.connect(str(tmp_path / "v.duckdb"), read_only=True)


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("SHOPIFY_TOKEN", shopify.DEFAULT_TOKEN)


def test_the_catalog_stream_loads_every_variant_including_products_past_100(api, tmp_path):
    served = api.sources()["shopify"]
    engine = Engine(tmp_path)
    recipe = engine.recipes.save(parse_recipe(
        f"name: variants\nsource: {{name: shopify, base_url: '{served['base_url']}'}}\n"
        "streams: [{name: product_variants}]\nrequirements: {history_start: 2020-01-01}\n"))
    done = engine.execute(recipe, executor="local", secrets={"SHOPIFY_ACCESS_TOKEN": served["api_key"]}).finished
    assert done["status"] == "success", done
    expected = truth()
    assert done["streams"]["product_variants"]["pages"] == -(-len(expected) // 250) > 1
    con = duckdb.connect(str(tmp_path / "data" / "purelink.duckdb"), read_only=True)
    count, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM shopify.product_variants").fetchone()
    ids = {i for (i,) in con.execute("SELECT id FROM shopify.product_variants").fetchall()}
    assert count == distinct == len(expected) and ids == {v["admin_graphql_api_id"] for v in expected}
    per_product = Counter(json.loads(p)["id"] for (p,) in con.execute(
        "SELECT product FROM shopify.product_variants").fetchall())
    big = sorted(n for n in per_product.values() if n > REST_EMBED)
    assert big == [101, 130, 250]  # what the REST products list would have cut at 100 each
    con.close()  # DuckDB lets one process write

    # a second run asks only for what changed since the cursor (updated_at:>=...), and adds nothing
    again = engine.execute(recipe, executor="local", secrets={"SHOPIFY_ACCESS_TOKEN": served["api_key"]}).finished
    assert again["status"] == "success", again
    assert again["streams"]["product_variants"]["records"] < len(expected)
    con = duckdb.connect(str(tmp_path / "data" / "purelink.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM shopify.product_variants").fetchone()[0] == len(expected)


def test_a_throttled_answer_is_waited_out_and_loses_nothing(api, tmp_path):
    protocol(api).throttle_graphql = 2
    finished, _, con = load(api, tmp_path, page_size=100)
    assert protocol(api).throttle_graphql == 0  # both THROTTLED answers were really sent
    assert finished["status"] == "success" and finished["retries"] >= 2, finished
    expected = truth()
    assert con.execute("SELECT count(*), count(DISTINCT id) FROM shopify.product_variants").fetchone() == \
        (len(expected), len(expected))


def test_a_graphql_error_fails_the_stream_with_the_apis_message(api, tmp_path):
    finished, events, _ = load(api, tmp_path, query="{ shop { name } }")
    assert finished["status"] == "failed"
    stream = finished["streams"]["product_variants"]
    assert stream["status"] == "failed" and "This sandbox serves only the productVariants query" in stream["error"]
    errors = [e for e in events if e["event"] == "error"]
    assert errors and "productVariants" in errors[0]["message"]


def test_first_over_the_maximum_is_an_error_not_a_short_read(api, tmp_path):
    finished, _, _ = load(api, tmp_path, page_size=251)
    assert finished["status"] == "failed"
    assert "between 1 and 250" in finished["streams"]["product_variants"]["error"]


@pytest.mark.parametrize(("body", "wait"), [
    ({"data": {}}, None),
    ({"errors": [{"message": "Field 'x' doesn't exist"}]}, None),
    ({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}, 0.0),
    ({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
      "extensions": {"cost": {"requestedQueryCost": 252,
                              "throttleStatus": {"currentlyAvailable": 52, "restoreRate": 100.0}}}}, 2.0),
])
def test_throttle_wait_reads_the_bucket(body, wait):
    assert throttle_wait(body) == wait
