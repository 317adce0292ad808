"""Primary keys that read like instants are told apart by their text: `2024-01-01T00:00:00Z` and
`2024-01-01T01:00:00+01:00` name one instant but are two records. Typed TIMESTAMPTZ, the key
column compared them as instants: the merge kept one row of the two, with a clean success."""

from __future__ import annotations

import io
import json
import time

import pytest

from purelink.runtime import NextUrlPagination, RestSource, Stream, TimeFilter, run
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.events import EventWriter
from tests.conftest import duckdb_rows
from tests.runtime.timed_list import TimedList

# Every id names 2024-01-01 00:00 UTC but the last; each is a record of its own.
IDS = ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00+00:00", "2024-01-01T01:00:00+01:00",
       "2023-12-31T19:00:00-05:00", "2024-01-01T00:00:00.000Z", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00+0000",
       "2024-01-02T00:00:00Z"]


@pytest.fixture
def api():
    now = int(time.time())
    server = TimedList([{"id": key, "updated": now - 86400 + i, "v": f"first {i}"} for i, key in enumerate(IDS)])
    yield server
    server.close()


def load(api: TimedList, db) -> tuple[dict, list[str]]:
    source = RestSource(name="shop", base_url=api.base_url, records_path="data",
                        paginator=NextUrlPagination(next_url_path="next"))
    stream = Stream("orders", path="/orders", primary_key="id", lookback_s=3600, start="2020-01-01",
                    time_filter=TimeFilter("updated", gte="since", lt=None, order="asc"))
    out = io.StringIO()
    finished = run(source, [stream], pipeline="shop_orders", destination=DuckDBDestination(db),
                   events=EventWriter("t", out))
    warnings = [e["message"] for e in map(json.loads, out.getvalue().splitlines()) if e["event"] == "warning"]
    return finished, warnings


def landed(db) -> list[tuple[str, str]]:
    return sorted(duckdb_rows(db, "SELECT id, v FROM shop.orders"))


def test_keys_naming_one_instant_in_other_words_are_rows_of_their_own(api, tmp_path):
    db = tmp_path / "dest.duckdb"
    finished, warnings = load(api, db)
    assert finished["status"] == "success" and not warnings, (finished, warnings)
    truth = sorted((r["id"], r["v"]) for r in api.records)
    assert landed(db) == truth  # every id, its exact text, its own value
    assert duckdb_rows(db, "SELECT count(*), count(DISTINCT id) FROM shop.orders")[0] == (len(IDS), len(IDS))
    assert duckdb_rows(db, "SELECT data_type FROM duckdb_columns() WHERE table_name = 'orders' "
                           "AND column_name = 'id'") == [("VARCHAR",)]

    # An incremental run merges on the key: a changed record replaces its own row only, and a new
    # record naming an instant some others name is one more row.
    now = int(time.time())
    api.records[2].update(updated=now, v="changed")
    api.records.append({"id": "2024-01-01T02:00:00+02:00", "updated": now, "v": "new"})
    finished, warnings = load(api, db)
    assert finished["status"] == "success" and not warnings, (finished, warnings)
    truth = sorted((r["id"], r["v"]) for r in api.records)
    assert landed(db) == truth
    assert duckdb_rows(db, "SELECT count(*), count(DISTINCT id) FROM shop.orders")[0] == (len(truth), len(truth))


def test_a_key_column_an_earlier_version_typed_as_instants_stays_so_and_nothing_doubles(tmp_path, monkeypatch):
    """A table loaded before keys kept their text holds its key as TIMESTAMPTZ. Widened to text on
    the next run, its keys would read as UTC text no incoming id matches, and each record re-read
    would land again (4 rows became 7). Such a column stays as it is: rows == distinct records."""
    import purelink.runtime.destinations.duckdb as duckdb_destination

    ids = ["2024-01-03T00:00:00Z", "2024-01-04T00:00:00+01:00", "2024-01-05T00:00:00.000Z"]
    now = int(time.time())
    server = TimedList([{"id": key, "updated": now - 600 + i, "v": f"first {i}"} for i, key in enumerate(ids)])
    db = tmp_path / "dest.duckdb"
    try:
        with monkeypatch.context() as earlier:  # as an earlier version typed keys: by their values
            earlier.setattr(duckdb_destination, "text_keys", lambda key, stored: [])
            load(server, db)
        assert duckdb_rows(db, "SELECT data_type FROM duckdb_columns() WHERE table_name = 'orders' "
                               "AND column_name = 'id'") == [("TIMESTAMP WITH TIME ZONE",)]
        server.records[1].update(updated=now, v="changed")
        finished, _ = load(server, db)  # the lookback reads all three again
    finally:
        server.close()
    assert finished["status"] == "success"
    assert duckdb_rows(db, "SELECT count(*), count(DISTINCT id) FROM shop.orders")[0] == (3, 3)
    assert sorted(v for (v,) in duckdb_rows(db, "SELECT v FROM shop.orders")) == ["changed", "first 0", "first 2"]
