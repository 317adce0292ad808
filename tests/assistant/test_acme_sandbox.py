"""The Acme Tickets protocol of the sandbox: an API in no catalog with no OpenAPI document, strict
about its parameters, paged by an opaque cursor."""

from __future__ import annotations

import httpx
import pytest

from purelink.catalog.spec import get_spec
from purelink.errors import SourceError
from purelink.sandbox.acme import dataset


@pytest.fixture
def client(acme):
    with httpx.Client(base_url=acme["base_url"], headers={"Authorization": f"Bearer {acme['api_key']}"},
                      timeout=10) as c:
        yield c


def test_listed_by_the_sandbox_and_in_no_catalog(sandbox, acme):
    listed = httpx.get(f"{sandbox.url}/_sandbox/sources").json()["acme"]
    assert listed == acme and acme["base_url"] == f"{sandbox.url}/api/v2"
    assert acme["api_key"] and acme["restricted_key"]
    for name in ("acme", "acme_tickets", "Acme Tickets"):
        with pytest.raises(SourceError):
            get_spec(name)
    assert httpx.get(f"{acme['base_url']}/openapi.json").status_code == 401
    assert httpx.get(f"{acme['base_url']}/openapi.json", headers={"Authorization": f"Bearer {acme['api_key']}"}
                     ).status_code == 404


@pytest.mark.parametrize("name, expected", [("tickets", 150), ("agents", 3), ("organizations", 15)])
def test_the_cursor_walks_every_record_once_in_id_order(client, name, expected):
    ids, cursor, pages = [], None, 0
    while True:
        r = client.get(f"/{name}", params={"page_size": 40, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "600"
        body = r.json()
        assert set(body) == {"items", "next_cursor"}
        ids += [x["id"] for x in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == expected == len(set(ids)) and ids == sorted(ids)
    assert pages == -(-expected // 40)


def test_records_are_deterministic_and_look_like_tickets(client):
    first = client.get("/tickets", params={"page_size": 1}).json()["items"][0]
    assert first == dataset(0, 150)["tickets"][0]
    assert set(first) >= {"id", "subject", "status", "requester", "created_at", "updated_at", "tags"}
    assert client.get(f"/tickets/{first['id']}").json() == first
    assert client.get("/tickets/1").status_code == 404
    phone = [t for t in dataset(0, 150)["tickets"] if t["channel"] == "phone"]
    assert phone and all(t["requester"]["email"] is None for t in phone)


@pytest.mark.parametrize("params, words", [
    ({"limit": 10}, "Unknown query parameter 'limit'. Allowed: cursor, page_size, updated_since."),
    ({"page_size": 0}, "page_size must be between 1 and 100"),
    ({"page_size": 101}, "page_size must be between 1 and 100"),
    ({"cursor": "not-a-cursor"}, "The cursor is not one this endpoint issued"),
    ({"updated_since": "yesterday"}, "updated_since must be an ISO 8601 time"),
])
def test_strict_about_its_parameters(client, params, words):
    r = client.get("/tickets", params=params)
    assert r.status_code == 400 and words in r.json()["error"]["message"]


def test_a_cursor_belongs_to_its_collection(client):
    cursor = client.get("/agents", params={"page_size": 1}).json()["next_cursor"]
    assert client.get("/tickets", params={"cursor": cursor}).status_code == 400


def test_updated_since_filters(client):
    since = "2025-06-01T00:00:00Z"
    items = client.get("/tickets", params={"updated_since": since, "page_size": 100}).json()["items"]
    expected = [t for t in dataset(0, 150)["tickets"] if t["updated_at"] >= since][:100]
    assert items == expected and 0 < len(items) < 150


def test_auth(acme):
    base = acme["base_url"]
    assert httpx.get(f"{base}/tickets").json()["error"]["code"] == "unauthorized"
    assert httpx.get(f"{base}/tickets", headers={"X-API-Key": acme["api_key"]}).status_code == 401
    restricted = {"Authorization": f"Bearer {acme['restricted_key']}"}
    assert httpx.get(f"{base}/tickets", headers=restricted).status_code == 200
    denied = httpx.get(f"{base}/agents", headers=restricted)
    assert denied.status_code == 403 and "tickets only" in denied.json()["error"]["message"]


def test_shared_faults_apply(sandbox_factory):
    sb = sandbox_factory(customers=20, fail_rate=1.0)
    acme = sb.sources()["acme"]
    r = httpx.get(f"{acme['base_url']}/tickets", headers={"Authorization": f"Bearer {acme['api_key']}"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal"
