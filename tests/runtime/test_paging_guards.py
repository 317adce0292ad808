"""Guards of REST paging, against a real HTTP server: a Link header that leads back to a page
already read stops the stream with its cause (it would page forever), a next-page link to another
host is never followed with the key (every request carries it), and record times in other units
than the time filter's stop the stream instead of cutting windows by them forever."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from purelink.runtime import BearerAuth, LinkHeaderPagination, RestSource, Stream, TimeFilter
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.http import HttpClient
from purelink.runtime.net import ForeignHost
from purelink.runtime.pipeline import run
from tests.conftest import duckdb_rows

SECRET = "sk_test_guard_0123456789"
LATIN1 = [{"id": i, "city": city} for i, city in enumerate(["Zürich", "Genève", "Bern", "São Paulo", "Ærøskøbing"])]


@pytest.fixture
def server():
    """Pages 1..3 of 10 records; page 3 links back to page 1, or (foreign) page 2 links to `localhost`."""
    seen: list[tuple[str, str | None, str]] = []  # (host header, authorization, path)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            seen.append((self.headers.get("Host", ""), self.headers.get("Authorization"), self.path))
            page = int(self.path.split("page=")[1].split("&")[0]) if "page=" in self.path else 1
            if self.path.startswith("/latin1"):  # the charset it declares, not UTF-8
                body = json.dumps({"data": LATIN1}, ensure_ascii=False).encode("iso-8859-1")
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=ISO-8859-1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                return self.wfile.write(body)
            if self.path.startswith("/body"):  # a cursor in the body, and no has_more flag at all
                after = int(self.path.split("after=")[1].split("&")[0]) if "after=" in self.path else 0
                return self._json({"data": [{"id": after * 10 + i} for i in range(10)],
                                   "paging": {"next": str(after + 1) if after < 2 else None}})
            if self.path.startswith("/expired") and page == 2:  # a cursor the API no longer accepts
                body = json.dumps({"error": {"message": "invalid query locator"}}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                return self.wfile.write(body)
            if self.path.startswith(("/null", "/nocontent", "/nodata")) and page == 2:
                if self.path.startswith("/nocontent"):  # an empty range answered 204 No Content
                    self.send_response(204)
                    return self.end_headers()
                return self._json({"data": None} if self.path.startswith("/null") else {"error": "gone"})
            port = self.server.server_address[1]
            host = "localhost" if self.path.startswith("/foreign") and page == 2 else "127.0.0.1"
            after = page if self.path.startswith("/self") else (1 if page == 3 else page + 1)
            records = [{"id": page * 100 + i, "created": 1_790_000_000_000 + i} for i in range(10)]  # ms
            if self.path.startswith("/endless"):  # records on page 1 only, and always a next page
                after, records = page + 1, records if page == 1 else []
            body = json.dumps({"data": records}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if not self.path.startswith("/ms"):
                self.send_header("Link", f'<http://{host}:{port}{self.path.split("?")[0]}?page={after}>; rel="next"')
            self.end_headers()
            self.wfile.write(body)

        def _json(self, obj) -> None:
            body = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


def pages(seen: list) -> list[int]:
    return [int(p.split("page=")[1].split("&")[0]) if "page=" in p else 1 for _, _, p in seen]


def load(base: str, path: str, tmp_path, monkeypatch, full_refresh: bool = True, **stream) -> dict:
    monkeypatch.setenv("GUARD_KEY", SECRET)
    source = RestSource(name="guard", base_url=base, auth=BearerAuth(secret="GUARD_KEY"),
                        paginator=LinkHeaderPagination(), records_path="data")
    stream = Stream("items", path=path, **stream)
    return run(source, [stream], pipeline="guard", destination=DuckDBDestination(tmp_path / "g.duckdb"),
               full_refresh=full_refresh)


def test_a_link_back_to_a_page_already_read_stops_the_stream_with_its_cause(server, tmp_path, monkeypatch):
    base, seen = server
    finished = load(base, "/loop", tmp_path, monkeypatch)
    stream = finished["streams"]["items"]
    assert finished["status"] == "failed" and stream["status"] == "failed"
    # Page 1 was first asked for without a page number, so the link back reads it once more: the
    # same records as the first page, and the stream stops there.
    assert "the same 10 record(s) as an earlier page" in stream["error"] and "/loop?page=1" in stream["error"], \
        stream["error"]
    assert pages(seen) == [1, 2, 3, 1]


def test_a_link_to_the_very_page_read_stops_a_stream_without_keys(server, tmp_path, monkeypatch):
    # No primary key, so no records to recognise a page by: the request itself comes round again.
    base, seen = server
    finished = load(base, "/self", tmp_path, monkeypatch, primary_key=None)  # page 1 links to page 1
    error = finished["streams"]["items"]["error"]
    assert "goes round in a circle" in error and "/self?page=1" in error, error
    assert pages(seen) == [1, 1]


def test_a_next_page_on_another_host_is_not_followed_with_the_key(server, tmp_path, monkeypatch):
    base, seen = server
    finished = load(base, "/foreign", tmp_path, monkeypatch)
    assert finished["status"] == "failed"
    assert finished["cause"]["kind"] == "api_error" or finished["streams"]["items"]["status"] == "failed"
    assert "points to another host (http://localhost:" in finished["streams"]["items"]["error"]
    assert all(host.startswith("127.0.0.1") for host, _, _ in seen), seen  # localhost never got a request
    assert pages(seen) == [1, 2] and all(auth == f"Bearer {SECRET}" for _, auth, _ in seen)
    client = HttpClient(base)
    try:
        with pytest.raises(ForeignHost):
            client.get(f"http://localhost:{base.rsplit(':', 1)[1]}/foreign")
    finally:
        client.close()


def test_record_times_in_milliseconds_against_a_filter_in_seconds_stop_the_stream(server, tmp_path, monkeypatch):
    # Cutting windows by times 1,000 times too large asked for the same records again and again:
    # 3,260 requests in 90 s and no end, in a trial.
    base, seen = server
    finished = load(base, "/ms", tmp_path, monkeypatch, start="2020-01-01",
                    time_filter=TimeFilter("created", gte="created[gte]", lt="created[lt]"))
    error = finished["streams"]["items"]["error"]
    assert finished["status"] == "failed" and "1790000000000 to 1790000000009" in error, error
    assert "milliseconds" in finished["streams"]["items"]["cause"]["guidance"]
    assert len(seen) <= 16  # a page per window at most, then the stream stops


def test_a_connector_that_says_there_is_no_more_flag_reads_every_page(server, tmp_path):
    # `has_more_path: null` in the connector: the generated module left it out, so the runtime's
    # default (`has_more`) read a flag the body does not have, and page 1 of 3 loaded, with success.
    import subprocess
    import sys

    import yaml

    from purelink.engine import Engine
    from purelink.recipes import parse_recipe
    from tests.conftest import duckdb_rows

    base, _ = server
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "bodycur.yaml").write_text(yaml.safe_dump({
        "name": "bodycur", "title": "Body cursor", "category": "Test", "description": "cursor in the body",
        "base_url": base, "auth": {"style": "none"}, "records_path": "data",
        "pagination": {"style": "cursor", "cursor_param": "after", "cursor_path": "paging.next",
                       "has_more_path": None, "limit_param": "limit", "page_size": 10},
        "streams": [{"name": "items", "path": "/body", "primary_key": "id"}]}))
    engine = Engine(tmp_path)
    module = engine.generate(engine.recipes.save(parse_recipe(
        "name: bc\nsource: {name: bodycur}\nstreams: [{name: items}]\n")))
    assert "has_more_path=None" in module.read_text()
    done = subprocess.run([sys.executable, str(module)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = duckdb_rows(tmp_path / "data" / "purelink.duckdb", "SELECT id FROM bodycur.items ORDER BY id")
    assert [r[0] for r in rows] == list(range(30))


def test_a_body_in_the_charset_it_declares_lands_as_sent(server, tmp_path, monkeypatch):
    # charset=ISO-8859-1 was read as UTF-8: every record with an accent became a dead letter
    # ("not valid Unicode"), the original value lost.
    base, _ = server
    finished = load(base, "/latin1", tmp_path, monkeypatch)
    assert finished["status"] == "success" and finished["dead_letters"] == 0, finished
    from tests.conftest import duckdb_rows

    rows = duckdb_rows(tmp_path / "g.duckdb", "SELECT id, city FROM guard.items ORDER BY id")
    assert rows == [(r["id"], r["city"]) for r in LATIN1]


@pytest.mark.parametrize("path", ["/null", "/nocontent"])
def test_an_empty_page_answered_with_null_or_no_content_ends_the_list(server, tmp_path, monkeypatch, path):
    # {"data": null} or 204 for a range with no records failed the stream on every run, so its
    # first sync never finished; a body without the list at all is still no page.
    base, seen = server
    finished = load(base, path, tmp_path, monkeypatch)
    assert finished["status"] == "success", finished
    assert finished["streams"]["items"]["records"] == 10 and pages(seen) == [1, 2]
    finished = load(base, "/nodata", tmp_path, monkeypatch)
    assert finished["status"] == "failed"
    assert "no list of records at 'data'" in finished["streams"]["items"]["error"]


def test_empty_pages_that_always_name_a_next_page_stop_the_stream(server, tmp_path, monkeypatch):
    # With a next link on every empty page the run asked for 1,700 pages in 90 s and never ended.
    base, seen = server
    finished = load(base, "/endless", tmp_path, monkeypatch)
    stream = finished["streams"]["items"]
    assert finished["status"] == "failed" and stream["records"] == 10, finished
    assert "25 empty pages in a row, each with a next page" in stream["error"] and "/endless?page=26" in stream["error"]
    assert len(seen) == 26


def test_a_saved_position_the_api_refuses_points_to_a_full_refresh(server, tmp_path, monkeypatch):
    # The run stopped at page 2; the next runs resume there and the API refuses it (an expired
    # locator, a cursor naming a deleted record). "Run again: the stream resumes" could never work.
    base, _ = server
    first = load(base, "/expired", tmp_path, monkeypatch, full_refresh=False)
    assert first["status"] == "failed" and first["streams"]["items"]["committed"] == 10
    assert "--full-refresh" not in first["guidance"]  # not yet a saved position: the usual advice
    again = load(base, "/expired", tmp_path, monkeypatch, full_refresh=False)
    assert again["status"] == "failed" and "invalid query locator" in again["error"]
    assert "refused the request the last run stopped at" in again["guidance"] and "--full-refresh" in again["guidance"]


def test_a_stream_without_a_key_replaces_its_table_on_every_run(server, tmp_path, monkeypatch):
    # Nothing to merge by: re-reading the API appended every record again (50 -> 100 -> 150 rows).
    base, _ = server
    for _ in range(3):
        finished = load(base, "/null", tmp_path, monkeypatch, full_refresh=False, primary_key=None)
        assert finished["status"] == "success", finished
        assert duckdb_rows(tmp_path / "g.duckdb", "SELECT count(*), count(DISTINCT id) FROM guard.items") == [(10, 10)]
