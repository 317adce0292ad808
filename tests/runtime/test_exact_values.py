"""Numbers land as the API wrote them, over real HTTP into DuckDB: integers past 2**53 in a
column that also holds floats are not rounded (a DOUBLE would turn 9007199254740993 into
...992), whether they meet on one page, or the floats arrive after the integers were stored, or
the integers after the floats; a number past a double's range (1e400, 1e-400) is not read as
infinity or zero. Such a column is text, every value exactly as sent, with the widening named.
Strings, numbers and booleans arriving in a column of objects (JSON) are those JSON values, not
their bare text read as JSON (`"123"` a number, `"abc"` an error that failed the stream)."""

from __future__ import annotations

import io
import json
import math
import random
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest

from purelink.runtime import RestSource, SinglePage, Stream
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.events import EventWriter, parse_event
from purelink.runtime.pipeline import run
from purelink.runtime.records import json_text, loads

# The bodies are written by hand: the literals are the truth the table is compared with.
BODIES = {
    "/together": '{"data": [{"id": 1, "amount": 0.25}, {"id": 2, "amount": 9007199254740993},'
                 ' {"id": 3, "amount": -12345678901234567}, {"id": 4, "amount": null}]}',
    "/ints": '{"data": [{"id": 1, "amount": 9007199254740993}, {"id": 2, "amount": 7}]}',
    "/floats": '{"data": [{"id": 3, "amount": 1.5}, {"id": 4, "amount": 2}]}',
    "/small_floats": '{"data": [{"id": 1, "amount": 0.5}]}',
    "/big_ints": '{"data": [{"id": 2, "amount": 18014398509481985}, {"id": 3, "amount": 3}]}',
    "/objects": '{"data": [{"id": 1, "meta": {"a": 1}}, {"id": 2, "meta": [1, "x"]}]}',
    "/scalars": '{"data": [{"id": 3, "meta": "abc"}, {"id": 4, "meta": "123"}, {"id": 5, "meta": "{\\"a\\": 1}"},'
                ' {"id": 6, "meta": "null"}, {"id": 7, "meta": 5}, {"id": 8, "meta": true}, {"id": 9, "meta": null}]}',
    "/dotted": '{"data": [{"id": 1, "props.plan": "pro", "props": {"plan": "nested"}}, {"id": 2, "props.plan": null}]}',
    "/instants": '{"data": [{"id": 1, "at": "2024-01-02T03:04:05Z"}, {"id": 2, "at": "2024-02-29T00:00:00+01:00"}]}',
    "/not_instants": '{"data": [{"id": 3, "at": "2016-12-31T23:59:60Z"}, {"id": 4, "at": "2023-02-29T10:00:00Z"},'
                     ' {"id": 5, "at": "2024-04-31T00:00:00Z"}, {"id": 6, "at": "2024-05-01T00:00:00Z"}]}',
    "/past_64_bits": '{"data": [{"id": 1, "n": 123456789012345678901234567890, "meta": {"n": -9223372036854775809}},'
                     ' {"id": 2, "n": 18446744073709551616, "meta": [18446744073709551615, 1e16, "\\u00e9"]},'
                     ' {"id": 3, "n": -5, "meta": {"x": 0.1}}]}',
    "/flags": '{"data": [{"id": 1, "paid": true}, {"id": 2, "paid": false}]}',
    "/counts": '{"data": [{"id": 3, "paid": 42}, {"id": 4, "paid": 1.5}, {"id": 5, "paid": -7}]}',
    "/flags_and_counts": '{"data": [{"id": 1, "paid": true}, {"id": 2, "paid": 42}, {"id": 3, "paid": 1.5},'
                         ' {"id": 4, "paid": false}, {"id": 5, "paid": null}]}',
    "/beyond": '{"data": [{"id": 1, "huge": 1e400, "tiny": 1e-400, "plain": 2.5e10},'
               ' {"id": 2, "huge": 3.5, "tiny": 0.0, "plain": 1E+2}]}',
}


@pytest.fixture
def api():
    """Serves at /items the body named by the last load (one source table throughout)."""
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            body = BODIES[serving[0]].encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    serving = [""]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", serving
    httpd.shutdown()
    httpd.server_close()


def load(api, body: str, db, columns: list[str] | None = None, destination=None, warnings: list | None = None) -> dict:
    """One run over `body` into `db` (or `destination`); its warning messages go to `warnings`."""
    base, serving = api
    serving[0] = body
    out = io.StringIO()
    source = RestSource(name="numbers", base_url=base, paginator=SinglePage(), records_path="data")
    finished = run(source, [Stream("items", path="/items", columns=columns)], pipeline="numbers",
                   destination=destination or DuckDBDestination(db), events=EventWriter("test", out))
    assert finished["status"] == "success", finished
    if warnings is not None:
        warnings += [e["message"] for e in map(parse_event, out.getvalue().splitlines()) if e and e["event"] == "warning"]
    return finished


def landed(db, columns: str = "amount") -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT id, {columns} FROM numbers.items ORDER BY id").fetchall()
    finally:
        con.close()


def column_type(db, column: str) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT data_type FROM duckdb_columns() WHERE table_name = 'items' "
                           "AND column_name = ?", [column]).fetchone()[0]
    finally:
        con.close()


def test_large_integers_and_floats_on_one_page_keep_every_digit(api, tmp_path):
    db = tmp_path / "n.duckdb"
    load(api, "/together", db)
    assert column_type(db, "amount") == "VARCHAR"
    assert landed(db) == [(1, "0.25"), (2, "9007199254740993"), (3, "-12345678901234567"), (4, None)]


def test_floats_arriving_after_large_integers_were_stored_do_not_round_them(api, tmp_path):
    db = tmp_path / "n.duckdb"
    load(api, "/ints", db)
    assert column_type(db, "amount") == "BIGINT"
    finished = load(api, "/floats", db)
    assert landed(db) == [(1, "9007199254740993"), (2, "7"), (3, "1.5"), (4, "2")]
    assert finished["schema_changes"] == 1 and column_type(db, "amount") == "VARCHAR"  # the widening is named


def test_large_integers_arriving_in_a_float_column_keep_every_digit(api, tmp_path):
    db = tmp_path / "n.duckdb"
    load(api, "/small_floats", db)
    assert column_type(db, "amount") == "DOUBLE"
    load(api, "/big_ints", db)
    assert column_type(db, "amount") == "VARCHAR"
    assert landed(db) == [(1, "0.5"), (2, "18014398509481985"), (3, "3")]


def test_small_integers_and_floats_still_make_a_double_column(api, tmp_path):
    db = tmp_path / "n.duckdb"
    load(api, "/ints", tmp_path / "other.duckdb")
    load(api, "/floats", db)
    assert column_type(db, "amount") == "DOUBLE" and landed(db) == [(3, 1.5), (4, 2.0)]


def test_numbers_past_a_doubles_range_are_not_read_as_infinity_or_zero(api, tmp_path):
    db = tmp_path / "n.duckdb"
    load(api, "/beyond", db)
    assert landed(db, "huge, tiny, plain") == [(1, "1e400", "1e-400", 25000000000.0), (2, "3.5", "0.0", 100.0)]
    assert column_type(db, "plain") == "DOUBLE"


def test_integers_past_64_bits_keep_every_digit_in_columns_and_in_json(api, tmp_path):
    """The fast JSON parser (orjson) reads an integer past 64 bits as a double, and will not write
    one: such pages and values take the standard library's way, so every digit lands."""
    db = tmp_path / "n.duckdb"
    load(api, "/past_64_bits", db)
    rows = landed(db, "n, meta::VARCHAR")
    assert [r[:2] for r in rows] == [(1, "123456789012345678901234567890"), (2, "18446744073709551616"), (3, "-5")]
    assert [json.loads(r[2]) for r in rows] == [{"n": -9223372036854775809}, [18446744073709551615, 1e16, "\u00e9"],
                                                {"x": 0.1}]


def test_the_fast_json_paths_read_and_write_what_the_standard_library_does():
    """records.loads and json_text against json.loads and json.dumps: the same values, of the same
    types, for what orjson refuses or reads otherwise (long integers, NaN, lone surrogates)
    and for random documents of every JSON type, doubles drawn from all their bits."""
    texts = ["123456789012345678901234567890", "-9223372036854775809", "18446744073709551615", "-0", "-0.0",
             '{"a":1,"a":2}', '"\\ud800"', '"\\ud83d\\ude00"', "NaN", "[Infinity]", '"\\u0000"', "1E5", "[1e22]",
             "[" * 200 + "]" * 200, '{"x": "0123456789012345678901"}']
    rng = random.Random(13)
    for _ in range(300):
        texts.append(json.dumps(document(rng, 3)))
    for text in texts:
        expected = json.loads(text)
        got = loads(text)
        assert same(got, expected), text[:200]
        again = json_text(got)  # the values a page gives: as records.loads read them
        assert same(json.loads(again), expected), again[:200]
    # Past a double's range both ways, which json.loads itself reads as infinity or 0.0: the text
    tiny = "0." + "0" * 330 + "1"
    assert loads(f'[{tiny}, 1e-400, "e-400", 1E+400]') == [tiny, "1e-400", "e-400", "1E+400"]


def document(rng: random.Random, depth: int):
    kind = rng.randrange(8 if depth else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([rng.randrange(-(2**70), 2**70), rng.randrange(-1000, 1000), 2**63, -(2**63) - 1])
    if kind in (2, 3):
        value = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        return value if math.isfinite(value) and abs(value) < 1e300 and (value == 0 or abs(value) > 1e-300) else 0.5
    if kind in (4, 5):
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0xD7FF), 0x2028, 0x1F600, 9]))
                       for _ in range(rng.randrange(6)))
    if kind == 6:
        return [document(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {f"k{i}": document(rng, depth - 1) for i in range(rng.randrange(4))}


def same(a, b) -> bool:
    """Equal and of the same types throughout (1 and 1.0 and True are three values here; NaN read
    from an API is a float of its own kind, see records.NonFinite)."""
    if type(a) is not type(b) and not (isinstance(a, float) and isinstance(b, float)):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


def test_the_postgres_warehouse_keeps_every_digit_too(api, postgres, secrets_env):
    from purelink.runtime.destinations.postgres import PostgresDestination

    for first, then, want in (("/ints", "/floats", ["9007199254740993", "7", "1.5", "2"]),
                              ("/small_floats", "/big_ints", ["0.5", "18014398509481985", "3"])):
        warehouse = postgres.create_database("exact" + first.strip("/"))
        for body in (first, then):
            base, serving = api
            serving[0] = body
            source = RestSource(name="numbers", base_url=base, paginator=SinglePage(), records_path="data")
            finished = run(source, [Stream("items", path="/items")], pipeline="numbers",
                           destination=PostgresDestination(postgres.url(warehouse), schema="numbers"))
            assert finished["status"] == "success", finished
        assert [r[0] for r in postgres.query(warehouse, "SELECT amount FROM numbers.items ORDER BY id")] == want
        assert postgres.query(warehouse, "SELECT data_type FROM information_schema.columns WHERE table_name = "
                                         "'items' AND column_name = 'amount'") == [("text",)]


def as_sent(*bodies: str) -> list[tuple]:
    """(id, paid) as the API spelled each value in JSON, from the bodies served (the last wins)."""
    sent: dict = {}
    for body in bodies:
        sent |= {r["id"]: r["paid"] for r in json.loads(BODIES[body])["data"]}
    return [(i, None if v is None else json.dumps(v)) for i, v in sorted(sent.items())]


@pytest.mark.parametrize("bodies", [("/flags", "/counts"), ("/counts", "/flags"), ("/flags_and_counts",)],
                         ids=["booleans_then_numbers", "numbers_then_booleans", "one_page"])
def test_booleans_and_numbers_in_one_column_keep_each_value_as_sent(api, tmp_path, bodies):
    # true in a column of numbers landed as 1 (and 42 as true would have failed): now the column is
    # text with the JSON spelling of each value, and a widening of a stored column is named.
    db, warnings = tmp_path / "n.duckdb", []
    first = load(api, bodies[0], db)
    changes = sum(load(api, body, db, warnings=warnings)["schema_changes"] for body in bodies[1:])
    assert column_type(db, "paid") == "VARCHAR"
    assert landed(db, "paid") == as_sent(*bodies)
    if len(bodies) > 1:
        old = "BOOLEAN" if bodies[0] == "/flags" else "DOUBLE"
        assert changes == 1 and warnings == [f"column items.paid widened from {old} to VARCHAR"], warnings
    else:
        assert first["schema_changes"] == 0


def test_the_postgres_warehouse_keeps_booleans_and_numbers_as_sent_too(api, postgres, secrets_env):
    from purelink.runtime.destinations.postgres import PostgresDestination

    for bodies in (("/flags", "/counts"), ("/counts", "/flags"), ("/flags_and_counts",)):
        warehouse = postgres.create_database("flags" + bodies[0].strip("/"))
        warnings: list[str] = []
        for body in bodies:
            load(api, body, None, destination=PostgresDestination(postgres.url(warehouse), schema="numbers"),
                 warnings=warnings)
        assert postgres.query(warehouse, "SELECT id, paid FROM numbers.items ORDER BY id") == as_sent(*bodies)
        assert postgres.query(warehouse, "SELECT data_type FROM information_schema.columns WHERE table_name = "
                                         "'items' AND column_name = 'paid'") == [("text",)]
        if len(bodies) > 1:
            old = "boolean" if bodies[0] == "/flags" else "double precision"
            assert warnings == [f"column items.paid widened from {old} to text"], warnings


def test_strings_numbers_and_booleans_arriving_in_a_json_column_are_json_values(api, tmp_path):
    db = tmp_path / "n.duckdb"
    load(api, "/objects", db)
    assert column_type(db, "meta") == "JSON"
    load(api, "/scalars", db)
    assert landed(db, "meta::VARCHAR") == [(1, '{"a":1}'), (2, '[1,"x"]'), (3, '"abc"'), (4, '"123"'),
                                           (5, '"{\\"a\\": 1}"'), (6, '"null"'), (7, "5"), (8, "true"), (9, None)]


def test_a_chosen_field_whose_own_name_has_a_dot_is_read(api, tmp_path):
    # `props.plan` was read as the path props -> plan only: NULLs, and a warning asking whether the
    # user meant 'props.plan'. The field of that very name comes first.
    db = tmp_path / "n.duckdb"
    finished = load(api, "/dotted", db, columns=["id", "props.plan"])
    assert finished["warnings"] == 0, finished
    assert landed(db, "props_plan") == [(1, "pro"), (2, None)]


def test_two_chosen_fields_one_column_would_hold_are_refused_before_a_request():
    from purelink.runtime.errors import RuntimeFailure

    with pytest.raises(RuntimeFailure, match="'address.city' and 'address_City', which one column") as refused:
        Stream("items", path="/items", columns=["id", "address.city", "address_City"])
    assert "Keep one of them" in refused.value.guidance


def test_times_that_do_not_exist_are_kept_as_text_not_a_failed_stream(api, tmp_path):
    # A leap second (valid RFC 3339) or 29 February of a common year looks like an instant, and
    # DuckDB refuses it as TIMESTAMPTZ: the whole stream failed, on every run.
    db = tmp_path / "n.duckdb"
    load(api, "/instants", db)
    assert column_type(db, "at") == "TIMESTAMP WITH TIME ZONE"
    load(api, "/not_instants", db)
    assert column_type(db, "at") == "VARCHAR"
    assert landed(db, "\"at\"") == [(1, "2024-01-02T03:04:05Z"), (2, "2024-02-28T23:00:00Z"), (3, "2016-12-31T23:59:60Z"),
                                (4, "2023-02-29T10:00:00Z"), (5, "2024-04-31T00:00:00Z"), (6, "2024-05-01T00:00:00Z")]



def test_a_column_widened_in_a_refresh_staging_table_is_named_by_its_table(tmp_path):
    from purelink.runtime.arrow_batch import stage_name
    from purelink.runtime.destinations.base import Batch

    dest = DuckDBDestination(tmp_path / "n.duckdb")
    dest.open()
    try:
        at = __import__("datetime").datetime.now(__import__("datetime").UTC)
        staged = stage_name("paged")
        dest.commit([Batch("p", "paged", "numbers", staged, ("id",), [{"id": 1, "t": "2024-01-01T00:00:00Z"}])],
                    run_id="r", extracted_at=at)
        changes = dest.commit([Batch("p", "paged", "numbers", staged, ("id",), [{"id": 2, "t": "soon"}])],
                              run_id="r", extracted_at=at)
    finally:
        dest.close()
    assert [c.message() for c in changes] == ["column paged.t widened from TIMESTAMPTZ to VARCHAR"]


def test_a_double_column_widened_to_text_writes_whole_numbers_bare_and_keeps_minus_zero():
    from purelink.runtime.destinations.shaping import WHOLE_TEXT

    con = duckdb.connect()
    values = con.execute(f"SELECT {WHOLE_TEXT.format('x')} FROM (SELECT CAST(v AS DOUBLE) AS x FROM "
                         "(VALUES ('-0.0'), ('0'), ('42'), ('-3'), ('1.5'), ('1e20')) t(v))").fetchall()
    assert [v for (v,) in values] == ["-0.0", "0", "42", "-3", "1.5", "1e+20"]
