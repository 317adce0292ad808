"""A REST full refresh is staged: its rows go to a staging table and only a finished refresh
replaces the table. A refresh whose API fails half way, or whose process is killed half way,
leaves every old row as it was (value by value); the next run completes it, and a completed
refresh equals the source. In DuckDB and in the PostgreSQL warehouse."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import duckdb
import pytest

from purelink.lifecycle.timeline import run_kind
from purelink.runtime import PostgresDestination, RestSource, Stream
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.events import EventWriter
from purelink.runtime.paginators import CursorPagination
from purelink.runtime.pipeline import run
from purelink.runtime.summary import mode_words, summary_text

PAGE = 20


class ItemsApi:
    """`GET /items?starting_after=&limit=`: `n` records whose `version` says which edition of the
    data is served; `fail_after` pages into a run, every request is refused (the API went away)."""

    def __init__(self, n: int = 200) -> None:
        self.n, self.version, self.fail_after, self.served = n, 1, None, 0
        self.delay_s = 0.0  # each page answers this much later: a kill lands mid-refresh
        self.die_after: int | None = None  # the server process goes away after this many requests
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                api.served += 1
                time.sleep(api.delay_s)
                if api.die_after is not None and api.served > api.die_after:
                    api.die()  # no answer, and from now on no server: connections are refused
                    return
                if api.fail_after is not None and api.served > api.fail_after:
                    body, status = b'{"error": "gone"}', 400
                else:
                    body, status = json.dumps(api.page(parse_qs(urlparse(self.path).query))).encode(), 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.dead = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def die(self) -> None:
        if not self.dead.is_set():
            self.dead.set()
            threading.Thread(target=lambda: (self.server.shutdown(), self.server.server_close())).start()

    def records(self) -> list[dict]:
        return [{"id": f"it_{i:04d}", "name": f"item {i} v{self.version}", "price": i * self.version,
                 "version": self.version} for i in range(self.n)]

    def page(self, query: dict) -> dict:
        after = query.get("starting_after", [None])[0]
        rows = self.records()
        start = next((i + 1 for i, r in enumerate(rows) if r["id"] == after), 0)
        return {"data": rows[start:start + PAGE], "has_more": start + PAGE < len(rows)}

    def truth(self) -> list[tuple]:
        return [(r["id"], r["name"], r["price"], r["version"]) for r in self.records()]


@pytest.fixture
def api():
    server = ItemsApi()
    yield server
    if not server.dead.is_set():
        server.server.shutdown()
        server.server.server_close()


def load(api: ItemsApi, destination, **options) -> tuple[dict, list[dict]]:
    out = io.StringIO()
    source = RestSource("shop", api.url, paginator=CursorPagination(page_size=PAGE), concurrency=1)
    finished = run(source, [Stream("items", "/items")], pipeline="shop_items", destination=destination,
                   events=EventWriter("t", out), **options)
    return finished, [json.loads(line) for line in out.getvalue().splitlines()]


class Duck:
    def __init__(self, path) -> None:
        self.path = path

    def destination(self, **options):
        return DuckDBDestination(self.path, **options)

    def code(self) -> str:  # the same destination, built in another process
        return f"DuckDBDestination({str(self.path)!r})"

    def query(self, sql: str) -> list[tuple]:
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


class Warehouse:
    def __init__(self, postgres, database: str) -> None:
        self.postgres, self.database = postgres, database

    def destination(self, **options):
        return PostgresDestination(self.postgres.url(self.database), schema="shop", **options)

    def code(self) -> str:
        return f"PostgresDestination({self.postgres.url(self.database)!r}, schema='shop')"

    def query(self, sql: str) -> list[tuple]:
        return self.postgres.query(self.database, sql)


@pytest.fixture(params=["duckdb", "warehouse"])
def store(request, tmp_path):
    if request.param == "duckdb":
        return Duck(tmp_path / "store.duckdb")  # not shop.duckdb: the catalog would shadow the schema
    postgres = request.getfixturevalue("postgres")
    request.getfixturevalue("secrets_env")
    return Warehouse(postgres, postgres.create_database("wh"))


ROWS = "SELECT id, name, CAST(price AS BIGINT), CAST(version AS BIGINT) FROM shop.items ORDER BY id"


def state(store) -> dict:
    return {k: json.loads(v) for k, v in store.query(
        "SELECT key, CAST(value AS VARCHAR) FROM _purelink.state WHERE stream = 'items'")}


def kill_after_pages(proc: subprocess.Popen, pages: int) -> int:
    """SIGKILL once `pages` pages of the run are committed (their events printed); the pages seen."""
    seen = 0
    for line in proc.stdout:
        seen += '"event":"page"' in line
        if seen == pages:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    return seen


def test_a_failed_refresh_keeps_the_old_rows_and_the_next_run_completes_it(api, store):
    finished, _ = load(api, store.destination())
    assert finished["status"] == "success"
    old = store.query(ROWS)
    assert old == api.truth() and len(old) == 200

    api.version, api.fail_after, api.served = 2, 4, 0  # the refresh reads 4 pages, then the API fails
    finished, events = load(api, store.destination(), full_refresh=True)
    assert finished["status"] == "failed", events
    assert store.query(ROWS) == old  # every old row, value by value; none of the refresh's
    warning = next(e["message"] for e in events if e["event"] == "warning" and "full refresh" in e["message"])
    assert "keeps its old rows" in warning and "run the recipe again" in warning
    assert state(store)["refreshing"] is True and state(store)["generation"] == 1
    staged = store.query("SELECT count(*) FROM shop._purelink_stage_items")[0][0]
    # what the refresh committed before the API failed (pages fetched meanwhile are dropped)
    assert 0 < staged == sum(e["records"] for e in events if e["event"] == "page") <= 4 * PAGE
    # What the user reads says where those rows are: staged, not loaded into the table.
    assert finished["committed"] == 0 and finished["streams"]["items"]["staged"] == staged
    text = summary_text(finished)
    assert f"records:     0 loaded, {staged:,} staged" in text, text
    assert f"0 records before it failed (items 0); {staged:,} more wait in a staging table (items)" in text, text
    history = store.query("SELECT mode, records, CAST(streams AS VARCHAR) FROM _purelink.executions ORDER BY started_at")
    assert [(run_kind(m, st), n) for m, n, st in history][-1] == (f"full refresh, {staged:,} rows staged", 0)

    api.fail_after = None  # the re-run, without --full-refresh, completes the refresh
    destination, reads = store.destination(), []
    load_state = destination.load_state
    destination.load_state = lambda *a: reads.append(a) or load_state(*a)
    finished, events = load(api, destination)
    assert reads == [("shop_items", "items")]  # read once: for the header, and by the extraction
    assert finished["status"] == "success", finished
    # Its header says so from the start, and its summary that the refresh is done.
    assert mode_words(events[0]) == "incremental, continuing the full refresh of items", events[0]
    assert "items" in summary_text(finished) and "the full refresh an earlier run began is complete: the rows " \
        "that run staged and these replaced the table's old rows" in summary_text(finished)
    assert any("continuing the full refresh of items" in e["message"] for e in events if e["event"] == "warning")
    # every warning shown is counted: the summary's line and the executions row say as many
    assert finished["warnings"] == sum(e["event"] == "warning" for e in events) >= 1, events
    assert store.query(ROWS) == api.truth()
    assert all(v == 2 for *_, v in store.query(ROWS))
    assert store.query("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_purelink_stage%'") \
        == [(0,)]
    # the refresh is over: no staging key left, and the table's rows are its next generation
    assert "refreshing" not in state(store) and state(store)["generation"] == 1
    # The re-run finished a refresh: its row in the history says so, not "incremental" over a
    # table it rebuilt (and the failed refresh's row is a full refresh too).
    assert finished["mode"] == "full_refresh" and finished["continued"] is True
    assert finished["streams"]["items"]["refresh"] == "continued"
    rows = store.query("SELECT mode, status, CAST(streams AS VARCHAR) FROM _purelink.executions ORDER BY started_at")
    assert [(m, s) for m, s, _ in rows] == [("incremental", "success"), ("full_refresh", "failed"),
                                           ("full_refresh", "success")]
    assert [run_kind(m, streams) for m, _, streams in rows] == ["incremental", f"full refresh, {staged:,} rows staged",
                                                                "full refresh (continued)"]


def test_a_refresh_whose_server_dies_keeps_the_old_rows(api, store):
    """The API's server goes away mid-refresh (connections refused after the retries): the run
    fails with its cause, every old row stays, value by value."""
    assert load(api, store.destination())[0]["status"] == "success"
    old = store.query(ROWS)
    api.version, api.served, api.die_after = 6, 0, 3
    finished, events = load(api, store.destination(), full_refresh=True)
    assert api.dead.is_set() and finished["status"] == "failed"
    assert any(e["event"] == "error" for e in events)
    assert len(old) == api.n and {v for *_, v in old} == {1}
    assert store.query(ROWS) == old
    assert "refreshing" in state(store)


class StopAtFirstPage(io.StringIO):
    """The event stream of a run whose user presses Stop once the first page is committed."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop

    def write(self, text: str) -> int:
        if '"event":"page"' in text:
            self.stop.set()
        return super().write(text)


def test_a_stopped_refresh_keeps_the_old_rows(api, store):
    assert load(api, store.destination())[0]["status"] == "success"
    old = store.query(ROWS)
    api.version, api.delay_s = 7, 0.05
    stop = threading.Event()
    out = StopAtFirstPage(stop)
    source = RestSource("shop", api.url, paginator=CursorPagination(page_size=PAGE), concurrency=1)
    finished = run(source, [Stream("items", "/items")], pipeline="shop_items", destination=store.destination(),
                   full_refresh=True, stop=stop, events=EventWriter("t", out))
    assert finished["status"] != "success"
    assert store.query(ROWS) == old
    assert "keeps its old rows" in out.getvalue()
    staged = store.query("SELECT count(*) FROM shop._purelink_stage_items")[0][0]
    assert finished["streams"]["items"]["staged"] == staged > 0 and finished["committed"] == 0
    assert f"0 loaded, {staged:,} staged" in summary_text(finished)
    api.delay_s = 0
    assert load(api, store.destination())[0]["status"] == "success"
    assert store.query(ROWS) == api.truth()


def test_refreshes_from_an_empty_store_carry_their_generation(api, store):
    """A first run that is a refresh creates the table from its staging table; each later refresh
    is the next `_airbyte_generation_id`, on every row."""
    generation = "SELECT DISTINCT CAST(_airbyte_generation_id AS BIGINT) FROM shop.items"
    assert load(api, store.destination(airbyte_metadata=True), full_refresh=True)[0]["status"] == "success"
    assert store.query(ROWS) == api.truth() and store.query(generation) == [(0,)]
    api.version = 5
    assert load(api, store.destination(airbyte_metadata=True), full_refresh=True)[0]["status"] == "success"
    assert store.query(ROWS) == api.truth() and store.query(generation) == [(1,)]
    assert store.query("SELECT count(DISTINCT _airbyte_raw_id) FROM shop.items") == [(api.n,)]
    assert store.query("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_purelink_stage%'") \
        == [(0,)]


CHILD = """
import sys
from purelink.runtime import PostgresDestination, RestSource, Stream
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.events import EventWriter
from purelink.runtime.paginators import CursorPagination
from purelink.runtime.pipeline import run
source = RestSource("shop", {url!r}, paginator=CursorPagination(page_size={page}), concurrency=1)
run(source, [Stream("items", "/items")], pipeline="shop_items", destination={destination},
    full_refresh=True, events=EventWriter("k", sys.stdout))
"""


def test_a_refresh_killed_half_way_keeps_the_old_rows(api, store):
    assert load(api, store.destination())[0]["status"] == "success"
    old = store.query(ROWS)
    old_runs = store.query("SELECT DISTINCT _purelink_run_id FROM shop.items")
    assert old == api.truth() and len(old_runs) == 1

    api.version, api.delay_s = 3, 0.2
    code = CHILD.format(url=api.url, page=PAGE, destination=store.code())
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert kill_after_pages(proc, 2) == 2, "the refresh ended before it could be killed"
    assert store.query(ROWS) == old  # value by value, and still the first run's rows
    assert store.query("SELECT DISTINCT _purelink_run_id FROM shop.items") == old_runs
    assert store.query("SELECT count(*) FROM shop._purelink_stage_items")[0][0] >= 2 * PAGE

    api.delay_s = 0
    finished, events = load(api, store.destination())  # the next run, without the flag, completes it
    assert finished["status"] == "success", events
    assert store.query(ROWS) == api.truth()
    assert {v for *_, v in store.query(ROWS)} == {3}
    assert "refreshing" not in state(store) and state(store)["generation"] == 1
    # and a refresh that runs through equals the source too
    api.version = 4
    assert load(api, store.destination(), full_refresh=True)[0]["status"] == "success"
    assert store.query(ROWS) == api.truth() and state(store)["generation"] == 2


def test_a_generated_pipeline_killed_mid_refresh_keeps_every_row(sandbox_factory, pipeline):
    """The same through a generated module over the Stripe sandbox: windows paged concurrently."""
    columns = "id, email, name, balance, created, address, metadata, _purelink_run_id"
    p = pipeline(sandbox_factory(latency_ms=15), rate_limit=12)
    p.run()
    old = p.query(f"SELECT {columns} FROM stripe.customers ORDER BY id")
    assert len(old) == 3421

    proc = p.popen("--full-refresh")
    assert kill_after_pages(proc, 3) == 3
    assert p.query(f"SELECT {columns} FROM stripe.customers ORDER BY id") == old
    assert p.query("SELECT count(*) FROM stripe._purelink_stage_customers")[0][0] > 0

    p.run()  # completes the refresh
    new = p.query(f"SELECT {columns} FROM stripe.customers ORDER BY id")
    assert [r[:-1] for r in new] == [r[:-1] for r in old]  # the sandbox serves the same data
    assert not {r[-1] for r in new} & {r[-1] for r in old}  # every row is the refresh's
    assert p.query("SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0] == (3421, 3421)
    assert p.query("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_purelink_stage%'") == [(0,)]
    assert p.query("SELECT key FROM _purelink.state ORDER BY key") == [("cursor",), ("generation",), ("start",), ("table",)]
