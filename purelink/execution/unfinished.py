"""A run whose process ended without its `finished` event: killed (kill -9, the out-of-memory
killer, a removed container), crashed inside the interpreter, or ended by force after a stop it
did not answer within its grace period.

The runtime commits every page with its state, so what such a run committed is exact and the next
run resumes after it; what is missing is only the summary. It is rebuilt here from the events that
did arrive, with the cause, so the terminal, the notebook and the event log say what happened instead
of "failed, 0 records". A local DuckDB file also gets its executions row closed at once (status
`interrupted`), rather than staying `running` until the next run of the pipeline.
"""

from __future__ import annotations

import contextlib
import json
import signal
from datetime import UTC, datetime
from pathlib import Path

from purelink.runtime.causes import RESUME, cause


def how_it_ended(exit_code: int) -> str:
    """An exit code in words: `killed by SIGKILL` for -9 (a subprocess) or 137 (a container)."""
    number = -exit_code if exit_code < 0 else exit_code - 128 if exit_code > 128 else 0
    try:
        name = signal.Signals(number).name if number else ""
    except ValueError:
        name = ""
    if name:
        extra = " (kill -9, or the system's out-of-memory killer)" if name == "SIGKILL" else ""
        return f"killed by {name}{extra}"
    return f"exited with code {exit_code} without finishing"


def summary(events: list[dict], exit_code: int, output: list[str], *, stop_requested: bool,
            failure: str | None = None) -> dict:
    """The `finished` event the run did not send: what it committed, as its last events said."""
    started = next((e for e in events if e.get("event") == "started"), {})
    streams: dict[str, dict] = {name: {"records": 0} for name in started.get("streams") or []}
    committed = requests = storage = throttled = retries = 0
    for e in events:
        kind = e.get("event")
        if kind == "page" and e.get("stream"):
            streams.setdefault(e["stream"], {})["records"] = e.get("stream_records", e.get("records", 0))
            committed = max(committed, e.get("total_records") or 0)
        elif kind == "heartbeat":
            committed = max(committed, e.get("records") or 0)
        requests = max(requests, e.get("requests") or 0)
        throttled, retries = max(throttled, e.get("throttled") or 0), max(retries, e.get("retries") or 0)
        storage = e.get("storage_bytes") or storage
    committed = max(committed, sum(s.get("records", 0) for s in streams.values()))
    status = "stopped" if stop_requested else "failed"
    outcome = "stopped (by force)" if stop_requested else "interrupted"  # the executions table's word
    for s in streams.values():
        s.update(status=status, committed=s.get("records", 0))
    ended = how_it_ended(exit_code)
    if stop_requested:
        message = f"the run did not stop within its grace period and was ended by force: {ended}"
    else:
        message = f"the pipeline process ended without finishing its run: {ended}"
    last = failure or next((line.strip() for line in reversed(output) if line.strip()), "")
    if last and not stop_requested:
        message += f"; its last words: {last[:300]}"
    guidance = (f"Every row committed before the end is kept and exact. {RESUME} If it happens again, "
                "look for memory limits (the out-of-memory killer) or whatever else stops processes here.")
    return {"event": "finished", "status": status, "outcome": outcome, "records": committed, "committed": committed,
            "streams": streams, "error": message, "guidance": guidance,
            "cause": cause("ended_without_summary", message, guidance), "requests": requests,
            "throttled": throttled, "retries": max(retries, throttled),
            "duration_s": _since(started.get("ts")), "storage_bytes": storage or None,
            "run_id": started.get("run_id"), "destination": started.get("destination"),
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "rebuilt_by_host": True}


def _since(ts: str | None) -> float | None:
    try:
        return round((datetime.now(UTC) - datetime.fromisoformat(ts)).total_seconds(), 3) if ts else None
    except ValueError:
        return None


def close_execution(db_path: Path, finished: dict) -> bool:
    """Mark the run `interrupted` in a DuckDB file on this machine, with its cause; False when
    the file cannot be opened now (another run holds it: that run's start marks the row)."""
    run_id = finished.get("run_id")
    if not run_id or not db_path.exists():
        return False
    import duckdb

    with contextlib.suppress(duckdb.Error):
        con = duckdb.connect(str(db_path))
        try:
            con.execute("UPDATE _purelink.executions SET status = 'interrupted', finished_at = ?, records = ?, "
                        "error_message = ?, cause = ? WHERE run_id = ? AND status = 'running'",
                        [datetime.now(UTC), finished.get("committed", 0), finished["error"],
                         json.dumps(finished["cause"]), run_id])
            return True
        finally:
            con.close()
    return False
