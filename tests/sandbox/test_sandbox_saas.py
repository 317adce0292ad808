"""The sandbox's Salesforce, Shopify, GitHub and HubSpot protocols over HTTP, as their clients see them."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from purelink.sandbox import github, hubspot, salesforce_data, serve, shopify

N = 300


@pytest.fixture(scope="module")
def sandbox():
    with serve(customers=N, seed=3) as s:
        yield s


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=10) as c:
        yield c


def src(sandbox, name: str) -> dict:
    return sandbox.sources()[name]


def test_sources_lists_every_protocol_with_a_key(sandbox, client):
    listed = client.get(f"{sandbox.url}/_sandbox/sources").json()
    assert {"stripe", "salesforce", "shopify", "github", "hubspot"} <= set(listed)
    assert listed["salesforce"]["base_url"].endswith("/services/data/v62.0")
    assert listed["shopify"]["base_url"].endswith("/admin/api/2026-10")
    assert listed["github"]["base_url"].endswith("/api/v3") and listed["github"]["repo"] == "Hello-World"
    assert listed["hubspot"]["base_url"] == sandbox.url
    assert all(entry["api_key"] for entry in listed.values())


@pytest.mark.parametrize("name, path, headers", [
    ("salesforce", "/limits", lambda k: {"Authorization": f"Bearer {k}x"}),
    ("shopify", "/shop.json", lambda k: {"X-Shopify-Access-Token": k[:-1]}),
    ("github", "/repos/octocat/Hello-World", lambda k: {"Authorization": f"Bearer {k}x"}),
    ("hubspot", "/crm/v3/objects/contacts", lambda k: {"Authorization": f"Bearer {k}x"}),
    ("hubspot", "/crm/v3/objects/contacts", lambda k: {}),
])
def test_a_bad_key_is_401_in_the_protocols_own_words(sandbox, client, name, path, headers):
    s = src(sandbox, name)
    r = client.get(s["base_url"] + path, headers=headers(s["api_key"]))
    assert r.status_code == 401
    text = r.text
    assert s["api_key"] not in text
    expected = {"salesforce": "INVALID_SESSION_ID", "shopify": "Invalid API key or access token",
                "github": "Bad credentials", "hubspot": "INVALID_AUTHENTICATION"}[name]
    assert expected in text
    r = client.get(s["base_url"] + path, headers={"Authorization": f"Bearer {s['api_key']}",
                                                  "X-Shopify-Access-Token": s["api_key"]})
    assert r.status_code == 200


def test_salesforce_query_pages_with_next_records_url(sandbox, client):
    s = src(sandbox, "salesforce")
    auth = {"Authorization": f"Bearer {s['api_key']}", "Sforce-Query-Options": "batchSize=200"}
    r = client.get(f"{s['base_url']}/query", params={"q": "SELECT Id, Name, SystemModstamp FROM Contact"},
                   headers=auth)
    body = r.json()
    assert r.status_code == 200 and body["totalSize"] == N and body["done"] is False
    assert r.headers["sforce-limit-info"].startswith("api-usage=")
    assert list(body["records"][0]) == ["attributes", "Id", "Name", "SystemModstamp"]
    assert body["records"][0]["attributes"]["type"] == "Contact"
    assert body["records"][0]["SystemModstamp"].endswith(".000+0000")
    ids = [rec["Id"] for rec in body["records"]]
    nxt = body["nextRecordsUrl"]
    assert nxt.startswith("/services/data/v62.0/query/01g") and nxt.endswith("-200")
    more = client.get(sandbox.url + nxt, headers=auth).json()
    assert more["done"] is True and "nextRecordsUrl" not in more
    ids += [rec["Id"] for rec in more["records"]]
    assert len(ids) == len(set(ids)) == N and all(len(i) == 18 and i.startswith("003") for i in ids)


def test_salesforce_soql_filters_orders_and_limits(sandbox, client):
    s = src(sandbox, "salesforce")
    auth = {"Authorization": f"Bearer {s['api_key']}"}
    q = ("SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp >= 2025-01-01T00:00:00Z "
         "ORDER BY SystemModstamp DESC LIMIT 5")
    rows = client.get(f"{s['base_url']}/query", params={"q": q}, headers=auth).json()["records"]
    stamps = [row["SystemModstamp"] for row in rows]
    assert 0 < len(rows) <= 5 and stamps == sorted(stamps, reverse=True) and stamps[-1] >= "2025-01-01"
    expected = sum(1 for a in salesforce_data.dataset(3, N)["Account"] if a["Industry"] in ("Retail", "Energy"))
    q = "select id from account where Industry IN ('Retail', 'Energy')"
    assert client.get(f"{s['base_url']}/query", params={"q": q}, headers=auth).json()["totalSize"] == expected


@pytest.mark.parametrize("q, code", [
    ("SELECT Id, Nope FROM Account", "INVALID_FIELD"),
    ("SELECT Id FROM Nope", "INVALID_TYPE"),
    ("SELECT Id FROM Account WHERE SystemModstamp >= '2025-01-01'", "INVALID_FIELD"),
    ("SELEKT Id FROM Account", "MALFORMED_QUERY"),
])
def test_salesforce_query_errors(sandbox, client, q, code):
    s = src(sandbox, "salesforce")
    r = client.get(f"{s['base_url']}/query", params={"q": q}, headers={"Authorization": f"Bearer {s['api_key']}"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == code


def test_salesforce_describe_lists_the_fields_the_spec_selects(sandbox, client):
    from purelink.catalog.spec import get_spec

    s = src(sandbox, "salesforce")
    spec = get_spec("salesforce")
    for stream in spec.streams:
        described = client.get(s["base_url"] + stream.describe_path,
                               headers={"Authorization": f"Bearer {s['api_key']}"}).json()
        names = {f["name"] for f in described["fields"]}
        selected = stream.params["q"].split("SELECT", 1)[1].split("FROM")[0]
        assert {f.strip() for f in selected.split(",")} <= names


def test_shopify_link_header_pages_and_filters_on_the_first_request_only(sandbox, client):
    s = src(sandbox, "shopify")
    auth = {"X-Shopify-Access-Token": s["api_key"]}
    r = client.get(f"{s['base_url']}/customers.json", params={"limit": 100, "updated_at_min": "2025-01-01T00:00:00Z"},
                   headers=auth)
    assert r.status_code == 200 and "previous" not in r.links
    assert r.headers["x-shopify-shop-api-call-limit"].endswith("/40")
    assert r.headers["x-shopify-api-version"] == "2026-10"
    seen = [c["id"] for c in r.json()["customers"]]
    nxt = r.links["next"]["url"]
    assert set(parse_qs(urlsplit(nxt).query)) == {"limit", "page_info"}
    assert client.get(nxt + "&updated_at_min=2024-01-01", headers=auth).status_code == 400
    while nxt:
        r = client.get(nxt, headers=auth)
        seen += [c["id"] for c in r.json()["customers"]]
        nxt = r.links.get("next", {}).get("url")
    expected = [c["id"] for c in shopify.dataset(3, N)["customers"] if c["_updated_at"] >= 1735689600]
    assert seen == expected and seen == sorted(seen)
    assert client.get(f"{s['base_url']}/customers.json", params={"limit": 251}, headers=auth).status_code == 400


def test_shopify_orders_default_to_open_and_count(sandbox, client):
    s = src(sandbox, "shopify")
    auth = {"X-Shopify-Access-Token": s["api_key"]}
    every = client.get(f"{s['base_url']}/orders/count.json", params={"status": "any"}, headers=auth).json()["count"]
    opened = client.get(f"{s['base_url']}/orders/count.json", headers=auth).json()["count"]
    assert every == round(1.5 * N) and 0 < opened < every
    order = client.get(f"{s['base_url']}/orders.json", params={"status": "any", "limit": 1}, headers=auth).json()
    line = order["orders"][0]["line_items"][0]
    assert isinstance(order["orders"][0]["total_price"], str) and line["product_id"]


def test_shopify_leaky_bucket_answers_429_with_retry_after():
    with serve(customers=5) as sb:
        s = sb.sources()["shopify"]
        with httpx.Client() as c:
            codes = [c.get(f"{s['base_url']}/shop.json", headers={"X-Shopify-Access-Token": s["api_key"]})
                     for _ in range(45)]
    refused = [r for r in codes if r.status_code == 429]
    assert refused and refused[0].headers["retry-after"] == "2.0"
    assert "Exceeded 2 calls per second" in refused[0].json()["errors"]
    assert codes[0].headers["x-shopify-shop-api-call-limit"] == "1/40"


def test_github_pages_by_number_with_absolute_links(sandbox, client):
    s = src(sandbox, "github")
    auth = {"Authorization": f"Bearer {s['api_key']}"}
    r = client.get(f"{s['base_url']}/repos/octocat/Hello-World/issues",
                   params={"state": "all", "per_page": 50, "sort": "updated", "direction": "desc"}, headers=auth)
    assert r.status_code == 200 and set(r.links) == {"next", "last"}
    assert int(r.headers["x-ratelimit-limit"]) == 5000 and r.headers["x-ratelimit-resource"] == "core"
    nxt = r.links["next"]["url"]
    assert nxt.startswith(f"{sandbox.url}/api/v3/repositories/{github.REPO_ID}/issues?")
    assert parse_qs(urlsplit(nxt).query)["state"] == ["all"] and parse_qs(urlsplit(nxt).query)["page"] == ["2"]
    issues = r.json()
    while nxt:
        r = client.get(nxt, headers=auth)
        issues += r.json()
        nxt = r.links.get("next", {}).get("url")
    assert {"first", "prev"} <= set(r.links)
    stamps = [i["updated_at"] for i in issues]
    assert stamps == sorted(stamps, reverse=True)
    pulls = [i for i in issues if "pull_request" in i]
    assert len(issues) == N // 4 + N // 8 and len(pulls) == N // 8
    listed = client.get(f"{s['base_url']}/repos/octocat/Hello-World/pulls", params={"state": "all", "per_page": 100},
                        headers=auth).json()
    assert {p["number"] for p in listed} == {p["number"] for p in pulls}
    assert not {p["id"] for p in listed} & {p["id"] for p in pulls}  # a PR's issue id is not its pull id


def test_github_since_and_until(sandbox, client):
    s = src(sandbox, "github")
    auth = {"Authorization": f"token {s['api_key']}"}
    since = "2025-01-01T00:00:00Z"
    issues = client.get(f"{s['base_url']}/repos/octocat/Hello-World/issues",
                        params={"state": "all", "since": since, "per_page": 100}, headers=auth).json()
    assert issues and all(i["updated_at"] >= since for i in issues)
    commits = client.get(f"{s['base_url']}/repos/octocat/Hello-World/commits",
                         params={"since": "2024-06-01T00:00:00Z", "until": "2024-09-01T00:00:00Z", "per_page": 100},
                         headers=auth).json()
    dates = [c["commit"]["committer"]["date"] for c in commits]
    assert dates and all("2024-06-01" <= d <= "2024-09-01" for d in dates) and dates == sorted(dates, reverse=True)
    bad = client.get(f"{s['base_url']}/repos/octocat/Hello-World/issues", params={"since": "yesterday"}, headers=auth)
    assert bad.status_code == 422
    assert client.get(f"{s['base_url']}/repos/octocat/nope/issues", headers=auth).status_code == 404


def test_github_anonymous_calls_are_allowed_at_60_an_hour(sandbox, client):
    r = client.get(f"{src(sandbox, 'github')['base_url']}/users/octocat/repos")
    assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "60"
    assert [repo["name"] for repo in r.json()] == sorted((repo["name"] for repo in r.json()), key=str.lower)


def test_hubspot_cursor_paging_and_properties(sandbox, client):
    s = src(sandbox, "hubspot")
    auth = {"Authorization": f"Bearer {s['api_key']}"}
    url, params, seen = f"{s['base_url']}/crm/v3/objects/contacts", {"limit": 100, "properties": "email,nope"}, []
    while True:
        r = client.get(url, params=params, headers=auth)
        body = r.json()
        seen += body["results"]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
        assert body["paging"]["next"]["link"].startswith(f"{sandbox.url}/crm/v3/objects/contacts?")
        params = {**params, "after": after}
    assert int(r.headers["x-hubspot-ratelimit-max"]) == 100 and "x-hubspot-ratelimit-daily-remaining" in r.headers
    expected = [rec["id"] for rec in hubspot.dataset(3, N)["contacts"] if not rec["archived"]]
    assert [rec["id"] for rec in seen] == expected
    assert set(seen[0]["properties"]) == {"email", "createdate", "hs_object_id", "lastmodifieddate"}
    assert all(isinstance(v, (str, type(None))) for rec in seen for v in rec["properties"].values())
    archived = client.get(url, params={"archived": "true", "limit": 100}, headers=auth).json()["results"]
    assert archived and all(rec["archived"] for rec in archived)
    assert client.get(url, params={"limit": 101}, headers=auth).status_code == 400
    assert client.get(f"{s['base_url']}/crm/v3/objects/0-1", params={"limit": 1}, headers=auth).json()["results"]


def test_the_same_seed_gives_the_same_bytes(sandbox, client):
    with serve(customers=N, seed=3) as twin, httpx.Client() as c:
        for name, path in [("github", "/repos/octocat/Hello-World/commits?per_page=100"),
                           ("hubspot", "/crm/v3/objects/deals?limit=100"), ("shopify", "/products.json")]:
            a, b = src(sandbox, name), twin.sources()[name]
            headers = {"Authorization": f"Bearer {a['api_key']}", "X-Shopify-Access-Token": a["api_key"]}
            mine = client.get(a["base_url"] + path, headers=headers).content.replace(sandbox.url.encode(), b"")
            theirs = c.get(b["base_url"] + path, headers=headers).content.replace(twin.url.encode(), b"")
            assert mine == theirs


def test_shared_faults_use_each_protocols_error_shape():
    with serve(customers=5, fail_rate=1.0) as sb, httpx.Client() as c:
        sf = sb.sources()["salesforce"]
        r = c.get(f"{sf['base_url']}/limits", headers={"Authorization": f"Bearer {sf['api_key']}"})
        assert r.status_code == 500 and r.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
        hs = sb.sources()["hubspot"]
        r = c.get(f"{hs['base_url']}/crm/v3/objects/contacts", headers={"Authorization": f"Bearer {hs['api_key']}"})
        assert r.status_code == 500 and r.json()["status"] == "error"
    with serve(customers=5, rate_limit=1) as sb, httpx.Client() as c:
        gh = sb.sources()["github"]
        codes = [c.get(f"{gh['base_url']}/repos/octocat/Hello-World") for _ in range(3)]
        throttled = [r for r in codes if r.status_code == 429]
        assert throttled and int(throttled[0].headers["retry-after"]) >= 1


def test_shopify_cursor_is_opaque_but_tamper_proof(sandbox, client):
    s = src(sandbox, "shopify")
    token = base64.urlsafe_b64encode(json.dumps({"nope": 1}).encode()).decode()
    r = client.get(f"{s['base_url']}/customers.json", params={"page_info": token},
                   headers={"X-Shopify-Access-Token": s["api_key"]})
    assert r.status_code == 400 and "page_info" in r.json()["errors"]


def test_salesforce_query_all_pages_like_query_and_stripe_accepts_a_pinned_version(sandbox, client):
    from purelink.catalog.spec import get_spec

    s = src(sandbox, "salesforce")
    auth = {"Authorization": f"Bearer {s['api_key']}", "Sforce-Query-Options": "batchSize=200"}
    body = client.get(f"{s['base_url']}/queryAll", params={"q": "SELECT Id FROM Contact"}, headers=auth).json()
    assert body["totalSize"] == N and body["nextRecordsUrl"].startswith("/services/data/v62.0/queryAll/")
    more = client.get(sandbox.url + body["nextRecordsUrl"], headers=auth).json()
    assert len({r["Id"] for r in body["records"] + more["records"]}) == N and more["done"] is True
    stripe = src(sandbox, "stripe")
    pinned = get_spec("stripe").headers["Stripe-Version"]
    r = client.get(f"{stripe['base_url']}/customers", params={"limit": 1},
                   headers={"Authorization": f"Bearer {stripe['api_key']}", "Stripe-Version": pinned})
    assert r.status_code == 200 and r.headers["stripe-version"] == pinned
