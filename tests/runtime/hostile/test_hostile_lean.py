"""A pipeline process never loads pandas for the runtime (runtime/lean.py): pyarrow and DuckDB ask
for it only to check their input, and that cost 0.2-0.3 s of every run's first commit. Checked on
a real run of a generated module against the hostile API with its bad records switched on (so the
dead-letter, widening and odd-name paths all run), with what landed compared to the server's truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from purelink.runtime.events import parse_event

BAD_RECORDS = {"case_twins": True, "lone_surrogate": True, "null_record": True, "invalid_utf8": True,
               "keyless": True, "odd_fields": True, "text_times": True}
LOADING = {"cursor_items": False, "page_items": True, "offset_items": True}  # stream -> numbered

# The generated module, run as `python pipelines/NAME.py` runs it, with one line added just before
# it exits: whether pandas was loaded by then.
WATCH = """
import json, runpy, sys
import purelink.runtime.pipeline as pipeline
exit_with = pipeline.finish
def finish(finished):
    print(json.dumps({"pandas_loaded": "pandas" in sys.modules}), flush=True)
    exit_with(finished)
pipeline.finish = finish
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_watched(ws, *args: str) -> tuple[subprocess.CompletedProcess, list[dict], dict]:
    proc = subprocess.run([sys.executable, "-c", WATCH, str(ws.module), *args], cwd=ws.root,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}, capture_output=True, text=True,
                          timeout=600, check=False)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    events = [e for e in map(parse_event, proc.stdout.splitlines()) if e]
    probe = next(line for line in lines if "pandas_loaded" in line)
    return proc, events, probe


def test_a_run_loads_every_value_and_every_dead_letter_without_pandas(hostile, workspace):
    api = hostile(**BAD_RECORDS)
    ws = workspace(api, list(LOADING))
    proc, events, probe = run_watched(ws)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert probe == {"pandas_loaded": False}
    assert events[-1]["event"] == "finished" and events[-1]["status"] == "success"
    for stream, numbered in LOADING.items():
        truth = api.truth(numbered)
        assert ws.query(f"SELECT count(*), count(DISTINCT id) FROM hostile.{stream}")[0] == (len(truth), len(truth))
        loaded = ws.loaded(stream)
        assert loaded.keys() == truth.keys()
        assert all(loaded[i]["name"] == r["name"] and loaded[i]["created"] == r["created"] for i, r in truth.items())
        reasons = [reason for reason, _ in ws.dead_letters(stream)]
        expected = list(api.dead(numbered).values())
        assert len(reasons) == len(expected) and all(any(why in r for r in reasons) for why in expected)
    # A full refresh goes through the staging tables and their swap: still no pandas, same rows.
    proc, _, probe = run_watched(ws, "--full-refresh")
    assert proc.returncode == 0 and probe == {"pandas_loaded": False}
    assert ws.loaded("offset_items").keys() == api.truth(True).keys()


def test_code_outside_the_runtime_still_imports_pandas_and_converts(tmp_path):
    # After the runtime was refused pandas, a user's own code in the same process gets it, and
    # pyarrow and DuckDB convert to DataFrames as usual (both try again when asked to convert).
    code = f"""
import sys
from datetime import UTC, datetime
from purelink.runtime.lean import without_pandas
without_pandas()
from purelink.runtime.destinations.base import Batch
from purelink.runtime.destinations.duckdb import DuckDBDestination
d = DuckDBDestination({str(tmp_path / "x.duckdb")!r})
d.open()
d.commit([Batch("p", "s", "src", "t", ("id",), [{{"id": 1, "a": {{"x": 1}}, "n": "\\u00e9"}}, {{"id": 2, "a": None, "n": None}}])],
         run_id="r", extracted_at=datetime.now(UTC))
assert "pandas" not in sys.modules
import pandas
frame = d.con.execute("SELECT id, n FROM src.t ORDER BY id").df()
assert list(frame["id"]) == [1, 2] and frame["n"][0] == "\\u00e9" and pandas.isna(frame["n"][1])
import pyarrow
assert pyarrow.table({{"id": [1, 2]}}).to_pandas().shape == (2, 1)
d.close()
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
