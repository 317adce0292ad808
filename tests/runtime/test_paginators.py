"""Every pagination style, end to end over real HTTP into DuckDB, plus the retry policy."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import duckdb
import httpx
import pytest

from purelink.runtime import (
    CursorPagination,
    DuckDBDestination,
    LinkHeaderPagination,
    NextUrlPagination,
    OffsetPagination,
    PageNumberPagination,
    RestSource,
    Stream,
    run,
)
from purelink.runtime.events import EventWriter
from purelink.runtime.http import HttpClient, HttpError, RetryPolicy, TokenBucket

ITEMS = [{"id": i, "name": f"item {i}", "nested": {"n": i % 7}} for i in range(1, 251)]


class PagedApi(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    calls: ClassVar[dict[str, int]] = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        route = url.path.strip("/")
        PagedApi.calls[route] = PagedApi.calls.get(route, 0) + 1
        headers = {}
        size = int(q.get("limit", q.get("per_page", 100)))
        if route == "next_url":  # Salesforce-style: records + nextRecordsUrl
            start = int(q.get("from", 0))
            page = ITEMS[start:start + 40]
            nxt = f"/next_url?from={start + 40}" if start + 40 < len(ITEMS) else None
            body = {"records": page, "done": nxt is None, "nextRecordsUrl": nxt}
        elif route == "link":  # GitHub-style: a bare array + Link header
            start = int(q.get("cursor", 0))
            page = ITEMS[start:start + size]
            if start + size < len(ITEMS):
                headers["Link"] = f'</link?cursor={start + size}&limit={size}>; rel="next"'
            body = page
        elif route == "pages":
            n = int(q["page"])
            body = {"results": ITEMS[(n - 1) * size:n * size], "total_pages": -(-len(ITEMS) // size)}
        elif route == "offset":
            off = int(q["offset"])
            body = {"data": ITEMS[off:off + size], "total": len(ITEMS)}
        elif route == "body_cursor":  # HubSpot-style paging.next.after
            after = int(q.get("after", 0))
            page = ITEMS[after:after + size]
            body = {"results": page}
            if after + size < len(ITEMS):
                body["paging"] = {"next": {"after": str(after + size)}}
        elif route == "flaky":
            n = PagedApi.calls[route]
            if n <= 2:
                return self._send(503, {"error": {"message": "busy"}}, {"Retry-After": "0.1"})
            body = {"data": ITEMS[:5], "has_more": False}
        elif route == "no_retry":
            return self._send(500, {"error": {"message": "card declined"}}, {"Stripe-Should-Retry": "false"})
        else:
            return self._send(404, {"error": {"message": "no such route"}}, {})
        self._send(200, body, headers)

    def _send(self, status, body, headers):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), PagedApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


STYLES = {
    "next_url": (NextUrlPagination(next_url_path="nextRecordsUrl"), "records"),
    "link": (LinkHeaderPagination(limit_param="limit", page_size=60), ""),
    "pages": (PageNumberPagination(limit_param="per_page", page_size=30, total_pages_path="total_pages"), "results"),
    "offset": (OffsetPagination(total_path="total", page_size=70), "data"),
    "body_cursor": (CursorPagination(cursor_param="after", cursor_path="paging.next.after", has_more_path=None,
                                     page_size=100), "results"),
}


@pytest.mark.parametrize("route", STYLES)
def test_pagination_style_loads_every_record_once(api, route, tmp_path):
    paginator, records_path = STYLES[route]
    source = RestSource(name="paged", base_url=api, paginator=paginator, records_path=records_path)
    db = tmp_path / "p.duckdb"
    with open(tmp_path / "events.jsonl", "w") as out:
        finished = run(source, [Stream(route, path=f"/{route}")], pipeline="paged", destination=DuckDBDestination(db),
                       events=EventWriter("t", stream=out))
    assert finished["status"] == "success", finished
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute(f'SELECT count(*), count(DISTINCT id), max(id) FROM paged."{route}"').fetchone() == (250, 250, 250)
    assert con.execute(f"SELECT nested->>'n' FROM paged.\"{route}\" WHERE id = 10").fetchone() == ("3",)
    con.close()


def test_retry_after_is_honoured(api):
    client = HttpClient(api, retry=RetryPolicy(max_attempts=5))
    started = time.monotonic()
    response = client.get("/flaky")
    assert response.json()["data"][0]["id"] == 1
    assert client.stats.retries == 2
    assert time.monotonic() - started >= 0.2  # two waits of Retry-After: 0.1


def test_stripe_should_retry_false_is_not_retried(api):
    client = HttpClient(api)
    with pytest.raises(HttpError) as err:
        client.get("/no_retry")
    assert err.value.status == 500 and err.value.api_message == "card declined"
    assert client.stats.retries == 0


def test_dropped_connection_is_retried_then_reported():
    client = HttpClient("http://127.0.0.1:9", retry=RetryPolicy(max_attempts=2, base_delay_s=0.01))
    with pytest.raises(httpx.ConnectError):
        client.get("/x")
    assert client.stats.retries == 1


def test_token_bucket_is_shared_by_threads():
    bucket = TokenBucket(50, burst=1)
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(10)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 40 tokens at 50/s with a burst of 1 cannot be had in less than ~0.78 s, however many threads ask
    assert time.monotonic() - started >= 0.75


def test_throttling_halves_the_rate_once_per_episode_then_recovers():
    bucket = TokenBucket(100)
    bucket.hold(0.05)
    bucket.hold(0.05)  # several workers hit the same 429 wave: one decrease
    assert bucket.rate == 50
    for _ in range(3):
        bucket.relax()
    assert bucket.rate == 80
    for _ in range(2):  # five successes after the wave: back at the full rate, not minutes later
        bucket.relax()
    assert bucket.rate == 100
