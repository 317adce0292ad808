"""Fields a connector spec declares as Unix times land as TIMESTAMPTZ: exactly the API's instant,
bad values NULL with a warning, the incremental cursor still in the API's seconds, and a BIGINT
column an earlier version wrote migrated in place (DuckDB and the PostgreSQL warehouse)."""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import httpx
import pytest

from purelink.runtime.destinations.base import Batch
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.destinations.postgres import PostgresDestination
from purelink.runtime.events import EventWriter
from purelink.runtime.formats import apply_formats, unix_to_iso
from purelink.runtime.paginators import SinglePage
from purelink.runtime.pipeline import run
from purelink.runtime.sources.rest import RestSource, Stream
from purelink.sandbox import stripe_data

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def instant(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)  # integer arithmetic: the exact instant


@pytest.mark.parametrize(("value", "unit", "expected"), [
    (1767209093, "unix-seconds", "2025-12-31T19:24:53Z"),
    (0, "unix-seconds", "1970-01-01T00:00:00Z"),
    (253402300799, "unix-seconds", "9999-12-31T23:59:59Z"),
    (1767209093123, "unix-ms", "2025-12-31T19:24:53.123000Z"),
    (1767209093000, "unix-ms", "2025-12-31T19:24:53Z"),
    (253402300799999, "unix-ms", "9999-12-31T23:59:59.999000Z"),  # past float precision: still exact
    (1767209093.0, "unix-seconds", "2025-12-31T19:24:53Z"),
    ("2025-12-31T19:24:53+00:00", "unix-seconds", "2025-12-31T19:24:53+00:00"),  # already an instant
    (-1, "unix-seconds", None), (253402300800, "unix-seconds", None), ("1767209093", "unix-seconds", None),
    (True, "unix-seconds", None), (1.5, "unix-seconds", None), ({"t": 1}, "unix-seconds", None),
])
def test_unix_times_become_exact_utc_text(value, unit, expected):
    assert unix_to_iso(value, unit) == expected
    if expected is not None and not isinstance(value, str):
        per = 1000 if unit == "unix-ms" else 1
        parsed = datetime.fromisoformat(expected)
        assert (parsed - EPOCH) // timedelta(microseconds=1) == int(value) * (1_000_000 // per)


def test_bad_values_become_null_and_are_named_and_the_record_is_left_alone():
    record = {"id": "a", "created": 1767209093, "paid_at": "yesterday", "ended_at": None}
    row, bad = apply_formats(record, {"created": "unix-seconds", "paid_at": "unix-seconds", "ended_at": "unix-seconds"})
    assert row == {"id": "a", "created": "2025-12-31T19:24:53Z", "paid_at": None, "ended_at": None}
    assert bad == ["paid_at"]
    assert record["created"] == 1767209093  # the cursor reads the API's own seconds from it


def test_created_lands_as_the_sandbox_instant_and_the_cursor_stays_in_seconds(sandbox_factory, pipeline):
    api = sandbox_factory(customers=400)
    p = pipeline(api)
    p.run()
    assert p.query("SELECT data_type FROM duckdb_columns() WHERE table_name = 'customers' "
                   "AND column_name = 'created'") == [("TIMESTAMP WITH TIME ZONE",)]
    truth = {r.id: r.obj["created"] for r in stripe_data.dataset(0, 400)["customers"]}
    # epoch_us() reads the stored instant back as an integer: a value-by-value, exact comparison
    loaded = dict(p.query("SELECT id, epoch_us(created) FROM stripe.customers"))
    assert len(loaded) == len(truth) == 400
    assert loaded == {i: s * 1_000_000 for i, s in truth.items()}
    # ... and DataFrames show the instant, in UTC
    con = duckdb.connect(str(p.db), read_only=True)
    try:
        frame = con.execute("SELECT id, created FROM stripe.customers").df()
    finally:
        con.close()
    assert str(frame["created"].dtype).startswith("datetime64") and "UTC" in str(frame["created"].dtype)
    assert {i: t.to_pydatetime() for i, t in zip(frame["id"], frame["created"])} == \
        {i: instant(s) for i, s in truth.items()}
    # the state keeps the API's seconds: the next run's `created[gte]` is comparable
    state = p.query("SELECT value FROM _purelink.state WHERE key = 'cursor'")
    cursor = json.loads(state[0][0])["value"]
    assert isinstance(cursor, int) and cursor >= max(truth.values())

    r = httpx.post(f"{api.stripe_base_url}/customers", data={"email": "late@example.com"},
                   headers={"Authorization": f"Bearer {api.api_key}"})
    r.raise_for_status()
    new = r.json()
    _, events, _ = p.run()
    finished = events[-1]
    assert finished["status"] == "success" and finished["records"] < 50  # only the lookback and the new one
    assert p.query("SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0] == (401, 401)
    assert p.query(f"SELECT epoch_us(created) FROM stripe.customers WHERE id = '{new['id']}'") == \
        [(new["created"] * 1_000_000,)]
    assert dict(p.query("SELECT id, epoch_us(created) FROM stripe.customers WHERE id <> "
                        f"'{new['id']}'")) == loaded  # the old rows are unchanged


def batch(rows: list[dict], times: dict | None = None, table: str = "customers") -> Batch:
    return Batch("p", "customers", "stripe", table, ("id",), rows, times=times or {})


SECONDS = [1767209093, 1577836800, 0, None]
NEW = {"id": "c9", "created": 1767300000}


def old_rows() -> list[dict]:
    return [{"id": f"c{i}", "created": s} for i, s in enumerate(SECONDS)]


def new_rows() -> list[dict]:
    times = {"created": "unix-seconds"}
    return [apply_formats(NEW, times)[0]]


def test_a_bigint_column_of_seconds_is_migrated_in_duckdb(tmp_path):
    dest = DuckDBDestination(tmp_path / "x.duckdb")
    dest.open()
    try:
        at = datetime.now(UTC)
        dest.commit([batch(old_rows())], run_id="r1", extracted_at=at)  # how an earlier version stored it
        assert dest.con.execute("SELECT typeof(created) FROM stripe.customers LIMIT 1").fetchone() == ("BIGINT",)
        changes = dest.commit([batch(new_rows(), {"created": "unix-seconds"})], run_id="r2", extracted_at=at)
        assert [(c.column, c.change, c.old_type, c.new_type) for c in changes] == \
            [("created", "migrated", "BIGINT", "TIMESTAMPTZ")]
        got = dict(dest.con.execute("SELECT id, epoch_us(created) FROM stripe.customers").fetchall())
        want = {f"c{i}": None if s is None else s * 1_000_000 for i, s in enumerate(SECONDS)}
        assert got == {**want, "c9": NEW["created"] * 1_000_000}
        assert dest.con.execute("SELECT column_name, change FROM _purelink.schema_changes").fetchall() == \
            [("created", "migrated")]
    finally:
        dest.close()


def test_a_bigint_column_of_seconds_is_migrated_in_the_postgres_warehouse(postgres, secrets_env):
    warehouse = postgres.create_database("unix")
    dest = PostgresDestination(postgres.url(warehouse), schema="stripe")  # password: WAREHOUSE_PASSWORD
    dest.open()
    try:
        at = datetime.now(UTC)
        dest.commit([batch(old_rows())], run_id="r1", extracted_at=at)
        changes = dest.commit([batch(new_rows(), {"created": "unix-seconds"})], run_id="r2", extracted_at=at)
        assert [(c.column, c.change, c.old_type, c.new_type) for c in changes] == \
            [("created", "migrated", "bigint", "timestamptz")]
    finally:
        dest.close()
    rows = postgres.query(warehouse, "SELECT id, created, format_type(atttypid, atttypmod) FROM stripe.customers, "
                          "pg_attribute WHERE attrelid = 'stripe.customers'::regclass AND attname = 'created'")
    assert {r[2] for r in rows} == {"timestamp with time zone"}
    want = {f"c{i}": None if s is None else instant(s) for i, s in enumerate(SECONDS)}
    assert {r[0]: r[1] for r in rows} == {**want, "c9": instant(NEW["created"])}
    assert postgres.query(warehouse, "SELECT column_name, change FROM _purelink.schema_changes") == \
        [("created", "migrated")]


def test_a_bigint_column_of_milliseconds_is_migrated_exactly_and_out_of_range_values_turn_null(tmp_path):
    dest = DuckDBDestination(tmp_path / "ms.duckdb")
    dest.open()
    try:
        at = datetime.now(UTC)
        values = {"m0": 1767209093123, "m1": 253402300799999, "m2": -5, "m3": 253402300800000}
        dest.commit([batch([{"id": k, "paid_at": v} for k, v in values.items()], table="t")], run_id="r1",
                    extracted_at=at)
        fresh = apply_formats({"id": "m9", "paid_at": 1767209093001}, {"paid_at": "unix-ms"})[0]
        dest.commit([batch([fresh], {"paid_at": "unix-ms"}, table="t")], run_id="r2", extracted_at=at)
        got = dict(dest.con.execute("SELECT id, epoch_us(paid_at) FROM stripe.t").fetchall())
        assert got == {"m0": 1767209093123000, "m1": 253402300799999000, "m2": None, "m3": None,
                       "m9": 1767209093001000}
    finally:
        dest.close()


CARELESS = (
    {"id": "a", "created": 1767209093, "ended_at": None},
    {"id": "b", "created": "soon", "ended_at": 1767209100},
    {"id": "c", "created": -20, "ended_at": "2025-12-31T19:25:00Z"},
    {"id": "d", "created": 10**13, "ended_at": True},
    {"id": "e", "created": "1767209093", "ended_at": 0},
)


class Items(BaseHTTPRequestHandler):
    """One page of records whose time fields hold what a careless API may send."""

    def do_GET(self):
        body = json.dumps({"data": list(CARELESS), "has_more": False}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_values_that_are_not_times_load_as_null_with_one_warning(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Items)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = io.StringIO()
    try:
        source = RestSource("careless", f"http://127.0.0.1:{server.server_port}", paginator=SinglePage())
        stream = Stream("items", path="/items", formats={"created": "unix-seconds", "ended_at": "unix-seconds"})
        finished = run(source, [stream], pipeline="careless", destination=DuckDBDestination(tmp_path / "c.duckdb"),
                       events=EventWriter("t", stream=out))
    finally:
        server.shutdown()
        server.server_close()
    assert finished["status"] == "success" and finished["records"] == 5
    con = duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True)
    try:
        got = {i: (c, e) for i, c, e in con.execute(
            "SELECT id, epoch_us(created), epoch_us(ended_at) FROM careless.items").fetchall()}
        types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                 "WHERE table_name = 'items'").fetchall())
    finally:
        con.close()
    assert types["created"] == types["ended_at"] == "TIMESTAMP WITH TIME ZONE"
    assert got == {"a": (1767209093000000, None), "b": (None, 1767209100000000), "c": (None, 1767209100000000),
                   "d": (None, None), "e": (None, 0)}
    warnings = [e["message"] for e in map(json.loads, out.getvalue().splitlines()) if e["event"] == "warning"]
    assert len([w for w in warnings if "not Unix times" in w]) == 1
    assert any("created, ended_at: values that are not Unix times were loaded as NULL" in w for w in warnings)


def test_a_full_refresh_rebuilds_the_bigint_column_as_timestamptz_and_says_so(tmp_path):
    dest = DuckDBDestination(tmp_path / "r.duckdb")
    dest.open()
    try:
        at = datetime.now(UTC)
        dest.commit([batch(old_rows())], run_id="r1", extracted_at=at)
        dest.reset_stream("p", "customers", "stripe", "customers")  # what --full-refresh does first
        times = {"created": "unix-seconds"}
        rows = [apply_formats(r, times)[0] for r in old_rows()]
        changes = dest.commit([batch(rows, times)], run_id="r2", extracted_at=at)
        assert [(c.column, c.change, c.old_type, c.new_type) for c in changes] == \
            [("created", "retyped", "BIGINT", "TIMESTAMPTZ")]
        assert changes[0].message() == "column customers.created retyped from BIGINT to TIMESTAMPTZ"
        got = dict(dest.con.execute("SELECT id, epoch_us(created) FROM stripe.customers").fetchall())
        assert got == {f"c{i}": None if s is None else s * 1_000_000 for i, s in enumerate(SECONDS)}
    finally:
        dest.close()


def test_the_columnar_stores_get_timestamp_columns_from_the_same_typing():
    """BigQuery and Iceberg load API batches through `rest_table`: declared times arrive as UTC
    timestamps, exact, and a declared column with only nulls is a timestamp column too."""
    from purelink.runtime.destinations.columnar import rest_table

    times = {"created": "unix-seconds", "paid_at": "unix-ms"}
    records = [{"id": "a", "created": 1767209093, "paid_at": None},
               {"id": "b", "created": 1577836800, "paid_at": None}]
    rows = [apply_formats(r, times)[0] for r in records]
    table, types = rest_table(batch(rows, times), run_id="r", extracted_at=datetime.now(UTC), airbyte=False)
    assert types["created"] == types["paid_at"] == "timestamptz"
    assert str(table.schema.field("created").type) == str(table.schema.field("paid_at").type) == "timestamp[us, tz=UTC]"
    assert table.column("created").to_pylist() == [instant(1767209093), instant(1577836800)]
