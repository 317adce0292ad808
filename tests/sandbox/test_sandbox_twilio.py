"""The sandbox's Twilio protocol over HTTP, as a Twilio client sees it: Basic auth with the account
SID and the auth token, list pages under the resource's name, `next_page_uri` relative to the host."""

from __future__ import annotations

import httpx
import pytest

from purelink.sandbox import serve, twilio

N = 230


@pytest.fixture(scope="module")
def sandbox():
    with serve(customers=N, seed=5) as s:
        yield s


def test_only_the_account_sid_and_its_token_are_let_in(sandbox):
    source = sandbox.sources()["twilio"]
    assert source["base_url"] == sandbox.url and source["account_sid"] == twilio.ACCOUNT_SID
    url = f"{sandbox.url}/2010-04-01/Accounts/{twilio.ACCOUNT_SID}/Messages.json"
    for auth in (None, (twilio.ACCOUNT_SID, "wrong"), (twilio.AUTH_TOKEN, twilio.ACCOUNT_SID)):
        r = httpx.get(url, auth=auth)
        assert r.status_code == 401 and r.json()["code"] == 20003 and "Basic" in r.headers["www-authenticate"]
    r = httpx.get(url.replace(twilio.ACCOUNT_SID, "AC" + "0" * 32), auth=(twilio.ACCOUNT_SID, twilio.AUTH_TOKEN))
    assert r.status_code == 404 and r.json()["code"] == 20404  # another account's messages
    r = httpx.get(url, params={"PageSize": 1001}, auth=(twilio.ACCOUNT_SID, twilio.AUTH_TOKEN))
    assert r.status_code == 400


@pytest.mark.parametrize(("kind", "size"), [("Messages", 1000), ("Messages", 17), ("Calls", 50)])
def test_next_page_uri_walks_every_record_once(sandbox, kind, size):
    truth = twilio.dataset(5, N)[kind.lower()]
    seen, pages = [], 0
    with httpx.Client(base_url=sandbox.url, auth=(twilio.ACCOUNT_SID, twilio.AUTH_TOKEN)) as client:
        url: str | None = f"/2010-04-01/Accounts/{twilio.ACCOUNT_SID}/{kind}.json?PageSize={size}"
        while url:
            body = client.get(url).raise_for_status().json()
            assert body["page"] == pages and body["page_size"] == size and len(body[kind.lower()]) <= size
            seen += [r["sid"] for r in body[kind.lower()]]
            url = body["next_page_uri"]
            assert url is None or url.startswith("/2010-04-01/")  # relative to the host, as Twilio sends it
            pages += 1
    assert seen == [r["sid"] for r in truth] and len(set(seen)) == len(truth) == (N if kind == "Messages" else N // 2)
    assert pages == -(-len(truth) // size)
    assert truth[0]["date_created"].endswith("+0000")  # RFC 2822, newest first


def test_accounts_lists_the_authenticated_account(sandbox):
    r = httpx.get(f"{sandbox.url}/2010-04-01/Accounts.json", auth=(twilio.ACCOUNT_SID, twilio.AUTH_TOKEN))
    assert [a["sid"] for a in r.json()["accounts"]] == [twilio.ACCOUNT_SID] and r.json()["next_page_uri"] is None
