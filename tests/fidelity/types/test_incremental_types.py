"""The awkward types also survive the incremental path (merge by key, batch by batch) and a query
stream, whose column types come from the driver rather than from pg_attribute."""

from __future__ import annotations

import io

import duckdb
import pytest

from purelink.runtime import PostgresDestination, PostgresSource, Query, Table, sql_run
from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination
from purelink.runtime.events import EventWriter

pytestmark = pytest.mark.postgres

COLUMNS = {  # column -> (declared type, DuckDB type)
    "day": ("date", "DATE"),
    "moment": ("timestamptz", "TIMESTAMP WITH TIME ZONE"),
    "clock tz": ("timetz", "TIME WITH TIME ZONE"),
    "ip": ("inet", "VARCHAR"),
    "Amount": ("numeric(10,2)", "DECIMAL(10,2)"),
    "cash": ("money", "DECIMAL(38,2)"),
    "matrix": ("integer[]", "VARCHAR"),
    "pair": ("pair", "JSON"),
    "range": ("int4range", "VARCHAR"),
}
SETUP = [
    "CREATE TYPE pair AS (a integer, b text)",
    ('CREATE TABLE events (id integer PRIMARY KEY, updated_at timestamptz NOT NULL, day date, moment timestamptz, '
    '"clock tz" timetz, ip inet, "Amount" numeric(10,2), cash money, matrix integer[], pair pair, range int4range)'),
]
ROWS = [
    ("(1, now() - interval '2 days', 'infinity', '-infinity', '01:02:03+05', '10.0.0.1/8', 1.5, 2.25, "
    "'{{1,2},{3,4}}', ROW(1, 'x'), '[1,3)')"),
    ("(2, now() - interval '2 days', '2024-02-29', 'infinity', '23:00:00-02', '::1', -0.01, -3, '{{5}}', "
    "ROW(NULL, 'y'), 'empty')"),
]
MORE = [  # the second run: one new row, one changed row
    ("INSERT INTO events VALUES (3, now(), '-infinity', '2024-01-02 03:04:05+02', '00:00:00+00', '192.168.1.1', "
    "99999999.99, 0.01, '{{7,8}}', ROW(3, 'z'), '(,)')"),
    "UPDATE events SET updated_at = now(), day = 'infinity', ip = 'fe80::1/64', matrix = '{{0}}' WHERE id = 2",
]


def _render(column: str, declared: str = "") -> str:
    """The value as its type's output function writes it (inet without /32), composites as jsonb."""
    quoted = '"' + column + '"'
    value = f"to_jsonb({quoted})" if declared == "pair" else quoted
    return f"CASE WHEN {value} IS NOT NULL THEN format('%s', {value}) END"  # a row with a NULL field IS NULL


def _source_rows(postgres, db) -> list[tuple]:
    rendered = ", ".join(_render(c, d) for c, (d, _) in COLUMNS.items())
    return postgres.query(db, f"SELECT id, {rendered} FROM events ORDER BY id")


def _duck_rows(postgres, db, path) -> list[tuple]:
    """DuckDB's values, rendered by the source server (same session time zone, same output functions)."""
    con = duckdb.connect(str(path), read_only=True)
    texts = ", ".join(f"CAST(\"{c}\" AS VARCHAR)" for c in COLUMNS)
    rows = con.execute(f"SELECT id, {texts} FROM postgres.events ORDER BY id").fetchall()
    types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'events'")
                 .fetchall())
    con.close()
    assert {c: types[c] for c in COLUMNS} == {c: kind for c, (_, kind) in COLUMNS.items()}
    casts = []
    for i, (column, (declared, kind)) in enumerate(COLUMNS.items(), start=2):
        value = f"${i}::text"
        if declared == "pair":
            typed = f"{value}::jsonb"
        elif kind == "VARCHAR":
            typed = value
        elif declared == "money":
            typed = f"{value}::numeric::money"
        else:
            typed = f"CAST({value} AS {declared})"
        casts.append(f"CASE WHEN {value} IS NOT NULL THEN format('%s', {typed}) END")
    return [_render_row(postgres, db, casts, row) for row in rows]


def _render_row(postgres, db, casts, row) -> tuple:
    con = postgres.connect(db)
    cur = con.cursor()
    cur.execute(f"SELECT $1::int, {', '.join(casts)}", parameters=[row[0], *[None if v is None else str(v)
                                                                             for v in row[1:]]])
    out = cur.fetchone()
    con.close()
    return out


def _run(postgres, db, destination, stream) -> dict:
    finished = sql_run(PostgresSource(url=postgres.url(db)), [stream], pipeline="incremental_types",
                       destination=destination, events=EventWriter("t", io.StringIO()))
    assert finished["status"] == "success", finished
    return finished


@pytest.mark.parametrize("target", ["duckdb", "warehouse"])
def test_incremental_runs_keep_every_value(postgres, db, secrets_env, tmp_path, target):
    postgres.execute(db, *SETUP, f"INSERT INTO events VALUES {', '.join(ROWS)}")
    warehouse = postgres.create_database("wh") if target == "warehouse" else None

    def destination():
        if warehouse:
            return PostgresDestination(postgres.url(warehouse))
        return DuckDBArrowDestination(tmp_path / "inc.duckdb")

    def landed() -> list[tuple]:
        if warehouse is None:
            return _duck_rows(postgres, db, tmp_path / "inc.duckdb")
        rendered = ", ".join(_render(c) for c in COLUMNS)
        return postgres.query(warehouse, f"SELECT id, {rendered} FROM raw.events ORDER BY id")

    first = _run(postgres, db, destination(), Table("events"))
    assert first["streams"]["events"]["mode"] == "incremental by updated_at"
    assert landed() == _source_rows(postgres, db)
    postgres.execute(db, *MORE)
    second = _run(postgres, db, destination(), Table("events"))
    assert second["records"] == 2  # only the new and the changed row were read
    assert landed() == _source_rows(postgres, db)


def test_query_stream_types_come_from_the_driver(postgres, db, secrets_env, tmp_path):
    postgres.execute(db, *SETUP, f"INSERT INTO events VALUES {', '.join(ROWS)}")
    names = ", ".join(f'"{c}"' for c in COLUMNS)
    stream = Query("events", f"SELECT id, {names} FROM events", primary_key="id")
    path = tmp_path / "query.duckdb"
    _run(postgres, db, DuckDBArrowDestination(path), stream)
    assert _duck_rows(postgres, db, path) == _source_rows(postgres, db)
    warehouse = postgres.create_database("wh")
    _run(postgres, db, PostgresDestination(postgres.url(warehouse)), stream)
    rendered = ", ".join(_render(c) for c in COLUMNS)
    assert postgres.query(warehouse, f"SELECT id, {rendered} FROM raw.events ORDER BY id") == \
        _source_rows(postgres, db)


def test_numeric_without_precision_widens_instead_of_rounding(postgres, db, secrets_env, tmp_path):
    """Each run sizes DECIMAL from the values it finds: a later, finer value widens the DuckDB column
    (recorded as a schema change), and a NaN turns it into exact text; no value is ever rounded."""
    postgres.execute(db, "CREATE TABLE amounts (id integer PRIMARY KEY, updated_at timestamptz NOT NULL, amount numeric)",
                     "INSERT INTO amounts VALUES (1, now() - interval '1 day', 1.5), (2, now() - interval '1 day', -2)")
    path = tmp_path / "amounts.duckdb"
    steps = [("DECIMAL(38,1)", None),
             ("DECIMAL(38,2)", "INSERT INTO amounts VALUES (3, now(), 1.25)"),
             ("VARCHAR", "INSERT INTO amounts VALUES (4, now() + interval '1 second', 'NaN')")]
    for expected, change in steps:
        if change:
            postgres.execute(db, change)
        _run(postgres, db, DuckDBArrowDestination(path), Table("amounts"))
        con = duckdb.connect(str(path), read_only=True)
        kind = con.execute("SELECT data_type FROM duckdb_columns() WHERE table_name = 'amounts' "
                           "AND column_name = 'amount'").fetchone()[0]
        landed = con.execute("SELECT id, CAST(amount AS VARCHAR) FROM postgres.amounts ORDER BY id").fetchall()
        widened = con.execute("SELECT count(*) FROM _purelink.schema_changes WHERE change = 'widened'").fetchone()[0]
        con.close()
        assert kind == expected
        source = postgres.query(db, "SELECT id, amount::text FROM amounts ORDER BY id")
        assert len(landed) == len(source)
        for (key, got), (_, want) in zip(landed, source, strict=True):
            same = postgres.query(db, f"SELECT CAST('{got}' AS numeric) = CAST('{want}' AS numeric)")[0][0]
            assert same, f"row {key}: source {want}, DuckDB {got}"
    assert widened == 2


def test_query_stream_with_an_anonymous_record(postgres, db, secrets_env, tmp_path):
    """A query's ROW(...) has the pseudo-type record: no table can declare it, so it lands as its text."""
    postgres.execute(db, *SETUP, f"INSERT INTO events VALUES {', '.join(ROWS)}")
    stream = Query("records", "SELECT id, ROW(id, 'x y', NULL) AS anon FROM events", primary_key="id")
    want = postgres.query(db, "SELECT id, ROW(id, 'x y', NULL)::text FROM events ORDER BY id")
    path = tmp_path / "records.duckdb"
    _run(postgres, db, DuckDBArrowDestination(path), stream)
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT id, anon FROM postgres.records ORDER BY id").fetchall() == want
    con.close()
    warehouse = postgres.create_database("wh")
    _run(postgres, db, PostgresDestination(postgres.url(warehouse)), stream)
    assert postgres.query(warehouse, "SELECT id, anon FROM raw.records ORDER BY id") == want


def test_an_infinity_in_a_later_batch_of_a_reload(postgres, db, secrets_env):
    """A whole-table reload into the warehouse is staged batch by batch: a batch that must send its
    timestamps as text (an infinity) after earlier batches sent them typed still lands every value."""
    postgres.execute(db, "CREATE TABLE log (id integer PRIMARY KEY, at timestamp, day date, filler text)",
                     "INSERT INTO log SELECT i, timestamp '2024-01-01' + i * interval '1 minute', "
                     "date '2024-01-01' - i, repeat('x', 2000) FROM generate_series(1, 3000) i",
                     "UPDATE log SET at = 'infinity', day = '0044-03-15 BC' WHERE id = 2990",
                     "UPDATE log SET at = '-infinity', day = '-infinity' WHERE id = 2999")
    warehouse = postgres.create_database("wh")
    source = PostgresSource(url=postgres.url(db), batch_mb=1)  # about 500 rows a batch
    events = io.StringIO()
    finished = sql_run(source, [Table("log")], pipeline="log", destination=PostgresDestination(postgres.url(warehouse)),
                       events=EventWriter("t", events))
    assert finished["status"] == "success", finished
    assert events.getvalue().count('"event":"page"') > 2  # several batches, or this tests nothing
    sql = "SELECT id, at::text, day::text, md5(filler) FROM {} ORDER BY id"
    assert postgres.query(warehouse, sql.format("raw.log")) == postgres.query(db, sql.format("log"))
    types = postgres.query(warehouse, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                      "WHERE attrelid = 'raw.log'::regclass AND attname IN ('at', 'day') ORDER BY attnum")
    assert types == [("timestamp without time zone",), ("date",)]


@pytest.mark.parametrize("target", ["duckdb", "warehouse"])
def test_a_column_of_wire_bytes_from_an_earlier_version_is_refused(postgres, db, secrets_env, tmp_path, target):
    """Tables loaded before the types were fixed hold inet as bytes: appending text to them would mix
    two forms in one column, so the run stops and says how to reload."""
    # incremental (a cursor), so rows are merged into the existing table; a whole-table reload into
    # DuckDB would replace the table, old column types included
    postgres.execute(db, "CREATE TABLE hosts (id integer PRIMARY KEY, updated_at timestamptz, ip inet)",
                     "INSERT INTO hosts VALUES (1, now(), '::1')")
    if target == "duckdb":
        path = tmp_path / "old.duckdb"
        con = duckdb.connect(str(path))
        con.execute("CREATE SCHEMA postgres; CREATE TABLE postgres.hosts (id INTEGER, updated_at TIMESTAMPTZ, ip BLOB)")
        con.close()
        destination = lambda: DuckDBArrowDestination(path)  # a fresh destination per run
        drop = lambda: duckdb.connect(str(path)).execute("DROP TABLE postgres.hosts").close()
    else:
        warehouse = postgres.create_database("wh")
        # with a row: an empty table is simply retyped (there is nothing to convert)
        postgres.execute(warehouse, "CREATE SCHEMA raw", "CREATE TABLE raw.hosts (id integer, updated_at timestamptz, ip bytea)",
                         "INSERT INTO raw.hosts VALUES (9, now(), '\\x00')")
        destination = lambda: PostgresDestination(postgres.url(warehouse))
        drop = lambda: postgres.execute(warehouse, "DROP TABLE raw.hosts")
    events = io.StringIO()
    finished = sql_run(PostgresSource(url=postgres.url(db)), [Table("hosts")], pipeline="hosts",
                       destination=destination(), events=EventWriter("t", events))
    assert finished["status"] != "success"
    assert "wire bytes" in events.getvalue() and "DROP TABLE" in events.getvalue()
    drop()
    assert _run(postgres, db, destination(), Table("hosts"))["records"] == 1
