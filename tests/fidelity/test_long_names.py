"""Field names longer than PostgreSQL's 63-byte identifiers: every one lands in a column of its own
(two names alike in their first 63 bytes used to collide in CREATE TABLE; one alone was cut and
then not found), the same column on every run, with its source spelling in the column's comment.
Checked value by value against the records served."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from purelink.runtime import NextUrlPagination, RestSource, Stream
from purelink.runtime.arrow_batch import ArrowBatch
from purelink.runtime.destinations.base import Batch
from purelink.runtime.destinations.pg_names import LIMIT, shortened, stored_name
from purelink.runtime.pipeline import run
from tests.runtime.timed_list import TimedList

LONG = "a" * 70
TWIN = "a" * 63 + "b" * 7  # the same first 63 bytes as LONG
ACCENT = "x" * 62 + "é" + "z" * 5  # the 63rd byte is half of é
FITS = "f" * 63  # exactly the limit: kept as it is
KEY = "customer_identifier_" * 4  # a long primary key (80 bytes)
LATER = "added_on_the_second_run_" * 3  # a new long field on an existing table
REFRESHED = "added_by_a_full_refresh_" * 3  # a new long field that a staged refresh brings

FIRST = [{KEY: "k1", LONG: "one", TWIN: "twin 1", ACCENT: 1.5, FITS: True},
         {KEY: "k2", LONG: None, TWIN: "twin 2", ACCENT: None, FITS: False},
         {KEY: "k3", TWIN: "no LONG at all", ACCENT: -2}]
SECOND = [{KEY: "k2", LONG: "now set", TWIN: "twin 2 again", ACCENT: 7, FITS: True, LATER: "new"},
          {KEY: "k4", LONG: "four", TWIN: "", ACCENT: 0, FITS: None, LATER: None}]
THIRD = [{KEY: "k4", LONG: "refreshed", TWIN: "t", ACCENT: 3.25, FITS: True, LATER: "l", REFRESHED: "r4"},
         {KEY: "k5", LONG: None, TWIN: None, ACCENT: None, FITS: None, LATER: None, REFRESHED: "r5"}]


def test_stored_names_fit_differ_and_keep_whole_letters():
    names = [LONG, TWIN, ACCENT, KEY, LATER, "é" * 40, "🙂" * 20]
    stored = [stored_name(n) for n in names]
    assert all(len(s.encode()) <= LIMIT for s in stored)
    assert len(set(stored)) == len(stored)
    assert stored_name(ACCENT).startswith("x" * 54) and "\ufffd" not in "".join(stored)
    assert stored_name(FITS) == FITS and stored_name("id") == "id"
    assert stored == [stored_name(n) for n in names]  # the same column on every run


def test_arrow_batches_are_renamed_as_they_are_read():
    tables = (pa.table({KEY: [i], LONG: [str(i)], "id": [i]}) for i in range(3))
    batch, renamed = shortened(ArrowBatch(pipeline="p", stream="s", schema="x", table="t",
                                          primary_key=(KEY,), data=tables))
    assert batch.primary_key == (stored_name(KEY),)
    read = list(batch.tables(exact_text=True))
    assert [t.column_names for t in read] == [[stored_name(KEY), stored_name(LONG), "id"]] * 3
    assert [t.column(1).to_pylist() for t in read] == [["0"], ["1"], ["2"]]
    assert renamed == {stored_name(KEY): KEY, stored_name(LONG): LONG}
    plain = Batch(pipeline="p", stream="s", schema="x", table="t", rows=[{"id": 1, FITS: 2}])
    assert shortened(plain) == (plain, {})


def test_long_field_names_land_each_in_its_own_column(postgres, secrets_env):
    from purelink.runtime.destinations.postgres import PostgresDestination

    warehouse = postgres.create_database("longnames")
    api = TimedList([])
    truth: dict[str, dict] = {}
    fields = [KEY, LONG, TWIN, ACCENT, FITS]
    # two incremental runs, then a staged full refresh into the existing table
    for records, refresh, added in ((FIRST, False, None), (SECOND, False, LATER), (THIRD, True, REFRESHED)):
        api.records = [{**r, "updated": 1} for r in records]
        source = RestSource(name="long", base_url=api.base_url, paginator=NextUrlPagination(next_url_path="next"))
        finished = run(source, [Stream("items", path="/items", primary_key=[KEY])], pipeline="long",
                       destination=PostgresDestination(postgres.url(warehouse), schema="long"), full_refresh=refresh)
        assert finished["status"] == "success", finished
        if refresh:  # the table's rows are the served ones alone
            truth.clear()
        for record in records:  # a merge on the key: a field a record lacks is null in its row
            truth[record[KEY]] = record
        fields += [added] if added else []
        _assert_landed(postgres, warehouse, fields, truth)
    api.close()
    keys = postgres.query(warehouse, "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                                     "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'long.items'::regclass "
                                     "AND i.indisprimary")
    assert keys == [(stored_name(KEY),)]


def _assert_landed(postgres, warehouse: str, fields: list[str], truth: dict[str, dict]) -> None:
    """Every field in its stored column with its source spelling as comment, every row as served."""
    columns = dict(postgres.query(warehouse, "SELECT a.attname, col_description(a.attrelid, a.attnum) "
                                             "FROM pg_attribute a WHERE a.attrelid = 'long.items'::regclass "
                                             "AND a.attnum > 0 AND NOT a.attisdropped"))
    for field in fields:
        assert columns[stored_name(field)] == (field if stored_name(field) != field else None)
    select = ", ".join(f'"{stored_name(f)}"' for f in fields)
    rows = postgres.query(warehouse, f'SELECT {select} FROM long.items ORDER BY 1')
    assert len(rows) == len(truth)
    for row in rows:
        record = truth[row[0]]
        assert [str(v) if isinstance(v, float) else v for v in row] == \
            [str(float(record[f])) if f == ACCENT and record.get(f) is not None else record.get(f) for f in fields]


def test_streamed_arrow_tables_get_their_long_columns_and_comments(postgres, secrets_env):
    """A database source's batches arrive as Arrow tables an iterable yields: their long names are
    found only as the tables are read, inside the commit, and still get their column and comment."""
    from purelink.runtime.destinations.postgres import PostgresDestination

    warehouse = postgres.create_database("longarrow")
    destination = PostgresDestination(postgres.url(warehouse), schema="long")
    destination.open()
    try:
        for first in (0, 2):  # the table created, then rows merged into it with a new long column
            names = ["id", LONG] + ([LATER] if first else [])  # a short key: no long name known before reading
            tables = (pa.table({n: [f"{n[:3]}{i}"] for n in names}) for i in range(first, first + 2))
            destination.commit([ArrowBatch(pipeline="p", stream="s", schema="long", table="arrowed",
                                           primary_key=("id",), data=tables)], run_id=f"r{first}",
                               extracted_at=datetime.now(UTC))
    finally:
        destination.close()
    columns = dict(postgres.query(warehouse, "SELECT a.attname, col_description(a.attrelid, a.attnum) "
                                             "FROM pg_attribute a WHERE a.attrelid = 'long.arrowed'::regclass "
                                             "AND a.attnum > 0 AND NOT a.attisdropped"))
    assert (columns["id"], columns[stored_name(LONG)], columns[stored_name(LATER)]) == (None, LONG, LATER)
    rows = postgres.query(warehouse, f'SELECT id, "{stored_name(LONG)}", "{stored_name(LATER)}" '
                                     "FROM long.arrowed ORDER BY 1")
    assert rows == [(f"id{i}", f"aaa{i}", f"add{i}" if i >= 2 else None) for i in range(4)]
