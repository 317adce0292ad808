"""The sandbox's Stripe protocol over real HTTP: lists, cursors, filters, auth, writes, data."""

from __future__ import annotations

import itertools
import re
import time

import httpx
import pytest

from purelink.sandbox import serve
from purelink.sandbox.stripe_data import END, START


@pytest.fixture(scope="module")
def sandbox():
    with serve(seed=0) as running:
        yield running


@pytest.fixture(scope="module")
def api(sandbox):
    with httpx.Client(base_url=sandbox.stripe_base_url, auth=(sandbox.api_key, ""), timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def customers(api):
    return list_all(api, "/customers")


def list_all(client: httpx.Client, path: str, **params) -> list[dict]:
    rows, after = [], None
    while True:
        page = client.get(path, params={**params, "limit": 100, **({"starting_after": after} if after else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        rows += body["data"]
        if not body["has_more"]:
            return rows
        after = body["data"][-1]["id"]


def sort_key(obj: dict) -> tuple[int, str]:
    return (obj["created"], obj["id"])


def test_pages_through_every_customer_newest_first(api):
    rows = list_all(api, "/customers")
    ids = [r["id"] for r in rows]
    assert len(ids) == 3421 and len(set(ids)) == 3421
    assert all(sort_key(a) > sort_key(b) for a, b in itertools.pairwise(rows))
    assert all(re.fullmatch(r"cus_[A-Za-z0-9]{14}", i) for i in ids)
    assert all(START <= r["created"] < END for r in rows)


def test_list_shape_and_default_limit(api):
    body = api.get("/customers").json()
    assert body["object"] == "list" and body["url"] == "/v1/customers" and body["has_more"] is True
    assert len(body["data"]) == 10 and body["data"][0]["object"] == "customer"


@pytest.mark.parametrize(("path", "count", "kind"), [("/charges", 6842, "charge"),
                                                      ("/subscriptions", 1368, "subscription"),
                                                      ("/invoices", 4105, "invoice")])
def test_other_resources_reference_customers(api, customers, path, count, kind):
    rows = list_all(api, path)
    assert len({r["id"] for r in rows}) == count
    assert {r["object"] for r in rows} == {kind}
    assert {r["customer"] for r in rows} <= {c["id"] for c in customers}


def test_created_window_with_cursor_outside_it(api, customers):
    everything = customers
    lo, hi = everything[2000]["created"], everything[1500]["created"]
    expected = [r["id"] for r in everything if lo <= r["created"] < hi]
    newest_overall = everything[0]["id"]  # newer than the window: the cursor only gives a position
    got, after = [], newest_overall
    while True:
        body = api.get("/customers", params={"created[gte]": lo, "created[lt]": hi, "limit": 37,
                                             "starting_after": after}).json()
        got += [r["id"] for r in body["data"]]
        if not body["has_more"]:
            break
        after = body["data"][-1]["id"]
    assert got == expected and len(expected) > 400


def test_created_operators(api, customers):
    everything = customers
    t = everything[100]["created"]
    for params, keep in [({"created[gt]": t}, lambda c: c > t), ({"created[lte]": t}, lambda c: c <= t),
                         ({"created": t}, lambda c: c == t), ({"created[lt]": t, "created[gte]": t - 86400},
                                                              lambda c: t - 86400 <= c < t)]:
        got = [r["id"] for r in list_all(api, "/customers", **params)]
        assert got == [r["id"] for r in everything if keep(r["created"])], params


def test_ending_before_returns_the_previous_page(api):
    first = api.get("/customers", params={"limit": 5}).json()["data"]
    second = api.get("/customers", params={"limit": 5, "starting_after": first[-1]["id"]}).json()["data"]
    back = api.get("/customers", params={"limit": 5, "ending_before": second[0]["id"]}).json()
    assert [r["id"] for r in back["data"]] == [r["id"] for r in first]
    assert back["has_more"] is False
    partial = api.get("/customers", params={"limit": 3, "ending_before": second[0]["id"]}).json()
    assert [r["id"] for r in partial["data"]] == [r["id"] for r in first[2:]] and partial["has_more"] is True


@pytest.mark.parametrize("value", ["0", "101", "-3", "ten", ""])
def test_limit_out_of_range_is_a_stripe_error(api, value):
    response = api.get("/customers", params={"limit": value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "limit" and error["message"]


def test_bad_cursors_and_parameters(api):
    error = api.get("/customers", params={"starting_after": "cus_doesnotexist1"}).json()["error"]
    assert error["code"] == "resource_missing" and error["param"] == "starting_after"
    charge = api.get("/charges", params={"limit": 1}).json()["data"][0]["id"]
    assert api.get("/customers", params={"ending_before": charge}).status_code == 400
    first = api.get("/customers", params={"limit": 2}).json()["data"]
    both = api.get("/customers", params={"starting_after": first[0]["id"], "ending_before": first[1]["id"]})
    assert both.status_code == 400
    unknown = api.get("/customers", params={"colour": "red"})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "colour"
    assert api.get("/customers", params={"created[gte]": "yesterday"}).json()["error"]["param"] == "created[gte]"
    assert api.get("/refunds").status_code == 404


def test_retrieve_and_filters(api, customers):
    charge = api.get("/charges", params={"limit": 1}).json()["data"][0]
    assert api.get(f"/charges/{charge['id']}").json() == charge
    missing = api.get("/charges/ch_nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"
    mine = list_all(api, "/charges", customer=charge["customer"])
    assert charge["id"] in {c["id"] for c in mine} and {c["customer"] for c in mine} == {charge["customer"]}
    assert len(list_all(api, "/subscriptions", status="all")) == 1368
    assert {i["status"] for i in list_all(api, "/invoices", status="open")} == {"open"}
    someone = next(c for c in customers if c["email"])
    assert someone["id"] in {c["id"] for c in list_all(api, "/customers", email=someone["email"])}


def test_headers(api):
    response = api.get("/customers", params={"limit": 1}, headers={"Stripe-Version": "2025-01-27.acacia"})
    assert re.fullmatch(r"req_[A-Za-z0-9]{14}", response.headers["request-id"])
    assert response.headers["stripe-version"] == "2025-01-27.acacia"
    assert response.headers["content-type"] == "application/json"


def test_realistic_values(customers):
    rows = customers
    emails = [r["email"] for r in rows]
    malformed = [e for e in emails if e is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", e)]
    assert 0.005 < len(malformed) / len(rows) < 0.02
    assert 0.02 < emails.count(None) / len(rows) < 0.1
    assert len({r["address"]["country"] for r in rows if r["address"]}) > 5
    assert len({r["currency"] for r in rows}) > 4
    assert any(r["metadata"] for r in rows) and any(not r["metadata"] for r in rows)
    assert any(r["balance"] != 0 for r in rows) and all(isinstance(r["balance"], int) for r in rows)


def test_keys(sandbox):
    url = f"{sandbox.stripe_base_url}/customers"
    nokey = httpx.get(url)
    assert nokey.status_code == 401 and nokey.json()["error"]["type"] == "invalid_request_error"
    canary = "sk_test_canary_7QxW3nB8zLmV1cRt"
    bad = httpx.get(url, headers={"Authorization": f"Bearer {canary}"})
    assert bad.status_code == 401
    assert canary not in bad.text and "canary" not in bad.text
    assert re.fullmatch(r"Invalid API Key provided: sk_test_\*{19}1cRt", bad.json()["error"]["message"])
    assert httpx.get(url, auth=(sandbox.api_key, "")).status_code == 200  # Basic, key as user name
    assert httpx.get(url, headers={"Authorization": f"Bearer {sandbox.api_key}"}).status_code == 200


def test_extra_keys_and_restricted_keys():
    canary, reader = "sk_test_canary_Zr84kQpV2mXn0aTs", "rk_test_canary_Lp3sN6vB9cXe2hWq"
    with serve(customers=20, api_keys=[canary], restricted_keys=[reader]) as sb:
        base = sb.stripe_base_url
        assert httpx.get(f"{base}/charges", auth=(canary, "")).status_code == 200
        for key in (sb.restricted_key, reader):
            assert httpx.get(f"{base}/customers", auth=(key, "")).status_code == 200
            for path in ("/charges", "/subscriptions", "/invoices"):
                denied = httpx.get(f"{base}{path}", auth=(key, ""))
                assert denied.status_code == 403 and key not in denied.text
            assert httpx.post(f"{base}/customers", auth=(key, ""), data={"name": "x"}).status_code == 403


def test_create_and_update_customers():
    with serve(customers=50) as sb, httpx.Client(base_url=sb.stripe_base_url, auth=(sb.api_key, "")) as api:
        newest_before = api.get("/customers", params={"limit": 1}).json()["data"][0]["created"]
        before = time.time()
        made = api.post("/customers", data={"email": "ada@example.com", "name": "Ada", "metadata[plan]": "pro",
                                            "metadata[seats]": "3"})
        assert made.status_code == 200
        cus = made.json()
        assert re.fullmatch(r"cus_[A-Za-z0-9]{14}", cus["id"]) and cus["metadata"] == {"plan": "pro", "seats": "3"}
        assert before - 1 <= cus["created"] <= time.time() + 1
        assert api.get("/customers", params={"limit": 1}).json()["data"][0]["id"] == cus["id"]
        fresh = api.get("/customers", params={"created[gt]": newest_before}).json()["data"]
        if newest_before < cus["created"]:
            assert [c["id"] for c in fresh] == [cus["id"]]
        changed = api.post(f"/customers/{cus['id']}", data={"metadata[plan]": "", "metadata[tier]": "gold",
                                                             "name": "Ada L.", "address[city]": "Oslo"}).json()
        assert changed["metadata"] == {"seats": "3", "tier": "gold"} and changed["name"] == "Ada L."
        assert changed["address"]["city"] == "Oslo" and changed["created"] == cus["created"]
        assert api.get(f"/customers/{cus['id']}").json() == changed
        assert len(list_all(api, "/customers")) == 51
        assert api.post("/customers", data={"colour": "red"}).json()["error"]["param"] == "colour"
        assert api.post("/customers/cus_nope", data={"name": "x"}).status_code == 404
        first = api.post("/customers", data={"name": "Once"}, headers={"Idempotency-Key": "k1"})
        again = api.post("/customers", data={"name": "Once"}, headers={"Idempotency-Key": "k1"})
        assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
        assert again.headers.get_list("stripe-version") == first.headers.get_list("stripe-version")
        assert len(list_all(api, "/customers")) == 52


def test_stats_and_sources(sandbox):
    with httpx.Client(base_url=sandbox.url) as client:
        assert client.post("/_sandbox/stats/reset").status_code == 200
        client.get("/v1/customers", auth=(sandbox.api_key, ""))
        client.get("/v1/customers", auth=(sandbox.api_key, ""))
        client.get("/v1/charges")
        stats = client.get("/_sandbox/stats").json()
        assert stats == sandbox.stats()
        assert stats["requests"] == 3 and stats["by_path"] == {"/v1/customers": 2, "/v1/charges": 1}
        assert stats["by_status"] == {"200": 2, "401": 1} and stats["rate_limited"] == stats["server_errors"] == 0
        sources = client.get("/_sandbox/sources").json()
    assert sources == sandbox.sources()
    stripe = sources["stripe"]
    assert stripe["base_url"] == f"{sandbox.url}/v1" == sandbox.stripe_base_url
    assert stripe["api_key"] == sandbox.api_key and stripe["api_key"].startswith("sk_test_")
    assert stripe["restricted_key"] == sandbox.restricted_key and stripe["restricted_key"].startswith("rk_test_")
    assert httpx.get(f"{stripe['base_url']}/customers", auth=(stripe["api_key"], "")).status_code == 200


def test_same_seed_gives_identical_bytes():
    def snapshot(seed: int) -> list[bytes]:
        with serve(seed=seed, customers=300) as sb, httpx.Client(auth=(sb.api_key, "")) as client:
            return [client.get(f"{sb.stripe_base_url}/{path}", params={"limit": 100}).content
                    for path in ("customers", "charges", "subscriptions", "invoices")]
    assert snapshot(7) == snapshot(7)
    assert snapshot(7) != snapshot(8)


def test_stop_ends_kept_alive_connections():
    sb = serve(customers=5)
    client = httpx.Client(auth=(sb.api_key, ""))
    assert client.get(f"{sb.stripe_base_url}/customers").status_code == 200
    sb.stop()
    with pytest.raises(httpx.TransportError):
        client.get(f"{sb.stripe_base_url}/customers")
    client.close()
