"""Where an incremental run starts reading: never past the time a run began, never after the rows
a recipe's history start asks for.

The API here filters by time, which the hostile API of hostile_api.py does not: a real HTTP server
in a thread serving records by `since` (and `until`, when the stream has an upper bound), oldest
first, fifty a page, each page naming the next by URL. `truth()` is what it holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import duckdb
import pytest
import yaml

from purelink.engine import Engine
from purelink.recipes import parse_recipe
from purelink.runtime.events import parse_event
from tests.runtime.timed_list import TimedList

DAY = 86400
FUTURE = 4070908800  # 2099-01-01T00:00:00Z


class TimedApi(TimedList):
    """The items, by id, 50 a page."""

    def __init__(self, records: dict[int, dict]) -> None:
        super().__init__(records, page=50)

    def truth(self, since: int = 0) -> dict[int, str]:
        return {i: r["v"] for i, r in self.records.items() if r["updated"] >= since}


class Workspace:
    """One recipe over the API's `items`, run as its generated module, as a user's would be."""

    def __init__(self, root, api: TimedApi, upper_bound: bool, history_start: str) -> None:
        self.root, self.db = root, root / "data" / "purelink.duckdb"
        (root / "connectors").mkdir(parents=True, exist_ok=True)
        (root / "connectors" / "timed.yaml").write_text(yaml.safe_dump({
            "name": "timed", "title": "Timed", "category": "Test", "description": "An API filtered by time",
            "base_url": api.base_url, "auth": {"style": "none"}, "records_path": "data", "concurrency": 4,
            "pagination": {"style": "next_url", "next_url_path": "next"},
            "streams": [{"name": "items", "path": "/items", "primary_key": "id", "time_filter": {
                "field": "updated", "gte": "since", "lt": "until" if upper_bound else None,
                "format": "unix", "order": "asc"}}]}))
        self.start_from(history_start)

    def start_from(self, history_start: str) -> None:
        """Save the recipe (a new version when the start changed) and generate its module."""
        recipe = parse_recipe(yaml.safe_dump({
            "name": "timed_run", "source": {"name": "timed"}, "streams": [{"name": "items"}],
            "requirements": {"history_start": history_start}}))
        engine = Engine(self.root)
        self.module = engine.generate(engine.recipes.save(recipe))

    def run(self) -> tuple[int, list[str], str]:
        proc = subprocess.run([sys.executable, str(self.module)], cwd=self.root, capture_output=True, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=600, check=False)
        events = [e for e in map(parse_event, proc.stdout.splitlines()) if e]
        warnings = [e["message"] for e in events if e["event"] == "warning" and e.get("stream") == "items"]
        return proc.returncode, warnings, proc.stdout[-3000:] + proc.stderr[-3000:]

    def query(self, sql: str):
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def landed(self, api: TimedApi, since: int = 0) -> None:
        """Rows == distinct keys == the API's records since `since`, each as the API has it now."""
        truth = api.truth(since)
        assert self.query("SELECT count(*), count(DISTINCT id) FROM timed.items")[0] == (len(truth), len(truth))
        assert dict(self.query("SELECT id, v FROM timed.items")) == truth

    def cursor(self) -> int:
        return json.loads(self.query("SELECT value FROM _purelink.state WHERE stream = 'items' AND key = 'cursor'")[0][0])["value"]


@pytest.fixture
def timed_api():
    servers: list[TimedApi] = []

    def start(records: dict[int, dict]) -> TimedApi:
        servers.append(TimedApi(records))
        return servers[-1]

    yield start
    for api in servers:
        api.close()


def test_a_record_dated_in_the_future_does_not_carry_the_cursor_past_the_run(timed_api, tmp_path):
    # A lower-bound-only filter (updated_at_min) saved the newest record time as its cursor: one
    # record dated 2099 put it there, and every later run asked for records after 2099, loading
    # no new or changed record again, with a clean success.
    now = int(time.time())
    records = {i: {"id": i, "updated": now - 10 * DAY + i * 600, "v": f"r{i}"} for i in range(300)}
    records[42]["updated"] = FUTURE
    api = timed_api(records)
    ws = Workspace(tmp_path / "ws", api, upper_bound=False, history_start="2020-01-01")
    began = int(time.time())
    code, warnings, output = ws.run()
    assert code == 0, output
    ws.landed(api)
    assert began <= ws.cursor() <= int(time.time())  # the run's start, not 2099
    held = [w for w in warnings if "2099-01-01" in w]
    assert len(held) == 1 and held[0].startswith("items: ") and "held at the run's start" in held[0], warnings
    for k in range(2):  # later runs load what is new and what changed
        api.records[1000 + k] = {"id": 1000 + k, "updated": int(time.time()), "v": f"new after run {k + 1}"}
        api.records[10 + k].update(updated=int(time.time()), v=f"changed after run {k + 1}")
        code, warnings, output = ws.run()
        assert code == 0, output
        ws.landed(api)
        assert ws.cursor() <= int(time.time())
    assert len(api.truth()) == 302


def test_a_cursor_saved_in_the_future_by_an_earlier_version_reads_the_stream_again(timed_api, tmp_path):
    # A cursor an earlier version saved at a record's 2099 time: following it, no run loads anything.
    now = int(time.time())
    api = timed_api({i: {"id": i, "updated": now - 10 * DAY + i * 600, "v": f"r{i}"} for i in range(120)})
    ws = Workspace(tmp_path / "ws", api, upper_bound=False, history_start="2020-01-01")
    assert ws.run()[0] == 0
    con = duckdb.connect(str(ws.db))
    con.execute("UPDATE _purelink.state SET value = ? WHERE stream = 'items' AND key = 'cursor'",
                [json.dumps({"value": FUTURE})])
    con.close()
    api.records[500] = {"id": 500, "updated": int(time.time()), "v": "new"}
    api.records[7].update(updated=int(time.time()), v="changed")
    code, warnings, output = ws.run()
    assert code == 0, output
    ws.landed(api)
    said = ("the saved cursor of items reads 2099-01-01, later than now (a record dated in the future carried it "
            "there): read from the start, as a full refresh of the stream, since following it would load nothing "
            "new until that date")
    assert warnings == [said], warnings
    assert ws.cursor() <= int(time.time())
    code, warnings, output = ws.run()
    assert code == 0 and not warnings, output
    ws.landed(api)


def day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def test_a_history_start_moved_earlier_reads_the_stream_from_the_new_start(timed_api, tmp_path):
    # After a first sync from 20 days ago, the recipe's history start moved back to 50 days ago: the
    # saved cursor sent the next run on from where the first ended, and the 30 days before the old
    # start never loaded (288 of 1,439 rows, with a clean success).
    today = int(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
    first, earlier, later = today - 20 * DAY, today - 50 * DAY, today - 30 * DAY
    api = timed_api({i: {"id": i, "updated": today - 60 * DAY + i * 3600, "v": f"r{i}"} for i in range(60 * 24 - 1)})
    ws = Workspace(tmp_path / "ws", api, upper_bound=True, history_start=day(first))
    code, warnings, output = ws.run()
    assert code == 0 and not warnings, output
    ws.landed(api, since=first)
    ws.start_from(day(earlier))
    code, warnings, output = ws.run()
    assert code == 0, output
    ws.landed(api, since=earlier)
    assert len(api.truth(earlier)) > 2 * len(api.truth(first))
    said = (f"items now reads history from {day(earlier)}, earlier than the {day(first)} its saved rows were "
            "read from: read from the new start, as a full refresh of the stream")
    assert warnings == [said], warnings
    ws.start_from(day(later))  # a later start needs nothing: the rows before it stay, nothing is read again
    code, warnings, output = ws.run()
    assert code == 0 and not warnings, output
    ws.landed(api, since=earlier)
    ws.start_from(day(earlier))  # back to the start the rows were read from: nothing to read again either
    code, warnings, output = ws.run()
    assert code == 0 and not warnings, output
    ws.landed(api, since=earlier)
