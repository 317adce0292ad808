"""The PostgreSQL warehouse lands what the API lists, as DuckDB does: a key-less stream with a time
filter replaces the rows of the range each run reads again (destinations/rereads.py) instead of
adding them again, and ids that read like instants stay rows of their own, with their text."""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from purelink.runtime import NextUrlPagination, PostgresDestination, RestSource, Stream, TimeFilter, run
from purelink.runtime.events import EventWriter
from tests.runtime.timed_list import TimedList


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load(api: TimedList, url: str, stream: Stream) -> tuple[dict, list[str]]:
    source = RestSource(name="shop", base_url=api.base_url, records_path="data",
                        paginator=NextUrlPagination(next_url_path="next"))
    out = io.StringIO()
    finished = run(source, [stream], pipeline=f"shop_{stream.name}", destination=PostgresDestination(url),
                   events=EventWriter("t", out))
    return finished, [e["message"] for e in map(json.loads, out.getvalue().splitlines()) if e["event"] == "warning"]


@pytest.mark.parametrize("fmt", ["unix", "iso", "naive"])
def test_a_keyless_stream_with_a_time_filter_lands_the_api_records_after_every_run(postgres, secrets_env, fmt):
    url = postgres.url(postgres.create_database("wh"))
    at = {"unix": lambda s: s, "iso": iso, "naive": lambda s: iso(s).removesuffix("Z")}[fmt]
    now = int(time.time())
    records = [{"page": f"/p/{i % 5}", "updated": at(now - 86400 + i * 1800), "v": f"r{i}"} for i in range(48)]
    records += [{"page": "/twin", "updated": at(now - 600), "v": "twin"}] * 2
    api = TimedList(records)
    stream = Stream("visits", path="/visits", primary_key=None, lookback_s=3600, start="2020-01-01",
                    time_filter=TimeFilter("updated", gte="since", lt=None, order="asc",
                                           format="unix" if fmt == "unix" else "iso"))
    try:
        for step in range(3):
            finished, warnings = load(api, url, stream)
            assert finished["status"] == "success" and not warnings, (step, finished, warnings)
            rows = postgres.query(url.rsplit("/", 1)[1], "SELECT page, v, updated FROM raw.visits")
            got = Counter((page, v) for page, v, _ in rows)
            assert got == Counter((r["page"], r["v"]) for r in api.records), step
            stamp = int(time.time())
            api.records.append({"page": "/twin", "updated": at(now - 600), "v": "twin"})  # identical: one more row
            api.records.append({"page": f"/new/{step}", "updated": at(stamp - 60), "v": f"new {step}"})
            time.sleep(1.1)
    finally:
        api.close()


def test_keys_naming_one_instant_in_other_words_are_rows_of_their_own(postgres, secrets_env):
    name = postgres.create_database("wh")
    ids = ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00+00:00", "2024-01-01T01:00:00+01:00", "2024-01-01 00:00:00Z"]
    now = int(time.time())
    api = TimedList([{"id": key, "updated": now - 86400 + i, "v": f"first {i}"} for i, key in enumerate(ids)])
    stream = Stream("orders", path="/orders", primary_key="id", lookback_s=3600, start="2020-01-01",
                    time_filter=TimeFilter("updated", gte="since", lt=None, order="asc"))
    try:
        for step in range(2):  # a first run, then an incremental one merging on the key
            finished, warnings = load(api, postgres.url(name), stream)
            assert finished["status"] == "success" and not warnings, (finished, warnings)
            assert sorted(postgres.query(name, "SELECT id, v FROM raw.orders")) == \
                sorted((r["id"], r["v"]) for r in api.records)
            api.records[1].update(updated=int(time.time()), v="changed")
            api.records.append({"id": f"2024-01-01T0{2 + step}:00:00+0{2 + step}:00", "updated": int(time.time()),
                                "v": f"new {step}"})
    finally:
        api.close()
