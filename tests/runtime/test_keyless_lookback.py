"""A stream without a primary key but with a time filter lands exactly the API's records after
every run. Each incremental run reads again the window from its saved cursor minus the lookback:
those records were appended again, so rows doubled run after run with a clean success. Now the
first commit of the sync replaces the rows of the range it reads (destinations/rereads.py)."""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from purelink.runtime import NextUrlPagination, RestSource, Stream, TimeFilter, run
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.events import EventWriter
from tests.conftest import duckdb_rows
from tests.runtime.timed_list import TimedList

HOUR = 3600


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Events:
    def __init__(self, text: str) -> None:
        self.all = [json.loads(line) for line in text.splitlines()]
        self.finished = self.all[-1]
        self.warnings = [e["message"] for e in self.all if e["event"] == "warning"]


def load(api: TimedList, db, *, upper: bool, fmt: str) -> Events:
    source = RestSource(name="shop", base_url=api.base_url, records_path="data", concurrency=3,
                        paginator=NextUrlPagination(next_url_path="next"))
    stream = Stream("visits", path="/visits", primary_key=None, lookback_s=HOUR, start="2020-01-01",
                    time_filter=TimeFilter("updated", gte="since", lt="until" if upper else None,
                                           format="unix" if fmt == "unix" else "iso", order="asc"))
    out = io.StringIO()
    run(source, [stream], pipeline="shop_visits", destination=DuckDBDestination(db), events=EventWriter("t", out))
    return Events(out.getvalue())


def landed(db) -> Counter:
    """The table's rows as a multiset of (page, updated, v): two identical rows count twice."""
    rows = duckdb_rows(db, "SELECT page, CAST(updated AS VARCHAR), v FROM dest.shop.visits")
    return Counter(rows)


def truth(api: TimedList, fmt: str) -> Counter:
    def as_loaded(updated) -> str:  # an ISO instant comes back as DuckDB writes a TIMESTAMPTZ
        return datetime.fromisoformat(updated).strftime("%Y-%m-%d %H:%M:%S+00") if fmt == "iso" else str(updated)
    return Counter((r["page"], as_loaded(r["updated"]), r["v"]) for r in api.records)


@pytest.mark.parametrize("upper", [False, True], ids=["lower-bound-only", "windowed"])
# Unix seconds land in a BIGINT column, ISO instants in a TIMESTAMPTZ one, ISO times without an
# offset (UTC, as the time filter reads them) in a text column.
@pytest.mark.parametrize("fmt", ["unix", "iso", "naive"])
def test_a_keyless_stream_with_a_time_filter_lands_the_api_records_after_every_run(tmp_path, upper, fmt):
    now = int(time.time())
    at = {"unix": lambda s: s, "iso": iso, "naive": lambda s: iso(s).removesuffix("Z")}[fmt]
    # 90 records over the last 30 days, two identical ones and one more within the lookback hour
    records = [{"page": f"/p/{i % 7}", "updated": at(now - 30 * 86400 + i * 28800), "v": f"r{i}"} for i in range(90)]
    records += [{"page": "/twin", "updated": at(now - 600), "v": "twin"}] * 2 + [{"page": "/recent", "updated": at(now - 1200),
                                                                           "v": "recent"}]
    api = TimedList(records)
    db = tmp_path / "dest.duckdb"
    try:
        for step in range(5):
            events = load(api, db, upper=upper, fmt=fmt)
            assert events.finished["status"] == "success" and not events.warnings, (step, events.all[-3:])
            got, want = landed(db), truth(api, fmt)
            assert sum(got.values()) == sum(want.values()) and got == want, (step, got - want, want - got)
            assert duckdb_rows(db, "SELECT count(*) FROM dest.shop.visits WHERE page = '/twin'") == [(2 + step,)]
            # Before the next run, inside the lookback window: a new record, one more twin (identical
            # to the others), and a record that changed (its time moves to now; its old row lies in
            # the window too, so the run replaces it).
            stamp = int(time.time())
            changed = next(r for r in api.records if r["page"] == ("/recent" if not step else f"/new/{step - 1}"))
            changed.update(updated=at(stamp), v=f"changed in step {step}")
            api.records.append({"page": f"/new/{step}", "updated": at(stamp - 60), "v": f"new {step}"})
            api.records.append({"page": "/twin", "updated": at(now - 600), "v": "twin"})
            time.sleep(1.1)  # the next run's window begins after this one's: its cursor moved
    finally:
        api.close()
    assert sum(truth(api, fmt).values()) == 93 + 2 * 5
