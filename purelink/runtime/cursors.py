"""A time-filtered stream's saved cursor: where its next incremental run starts reading.

A windowed stream (`created[gte]` and `created[lt]`) saves the upper bound of its range, the time
its sync began. A stream with only a lower bound (`updated_at_min`) saves the newest record time
it read, which the API's own clock wrote, but never past the time its sync began: one record the
API dates in the future (bad data, a test row) would otherwise carry the cursor there, and every
later run would ask for records after that date, loading nothing new or updated, and succeed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from purelink.runtime.pages import StreamRun
from purelink.runtime.windows import Window


def closing_state(run: StreamRun, window: Window) -> tuple[dict[str, Any], str | None]:
    """The state a window's last page commits: the window gone and, once it was the stream's last
    open one, the sync ended with its cursor; with a warning when a record's time was not believed."""
    state: dict[str, Any] = {window.key: None}
    if window.lo is not None and run.stream.time_filter is not None:
        top = window.position if window.position is not None else window.hi
        if top is not None:
            run.progress.covered += max(0, top - window.lo)
    open_windows = [w for w in run.windows.values() if w.id != window.id and not w.closed]
    window.closed = True
    if open_windows:
        return state, None
    state["sync"] = None
    note = None
    value = run.sync_hi
    if value is None:
        value, note = held(run.stream.name, window.max_cursor, run.began)
    if value is not None:
        state["cursor"] = {"value": value}
    return state, note


def held(stream: str, newest: int | None, began: int | None) -> tuple[int | None, str | None]:
    """The cursor of a lower-bound-only stream: the newest record time read, held at `began` (the
    time the sync began); and the warning to give when that record is dated later than now."""
    now = int(time.time())
    began = now if began is None else began
    if newest is None or newest <= began:
        return newest, None
    if newest <= now:  # changed while the run read: the next run reads it again, nothing to say
        return began, None
    return began, (f"{stream}: a record's time reads {stamp(newest)}, later than now: it was loaded, and the "
                   f"saved cursor was held at the run's start ({stamp(began)}), so the next run still reads "
                   "the records created or changed after it (a cursor at the record's time would have skipped "
                   "them all)")


def stamp(seconds: int) -> str:
    """Unix seconds as the ISO time users read (2099-01-01T10:30:00Z), a midnight as its date."""
    try:
        at = datetime.fromtimestamp(seconds, UTC)
        return at.strftime("%Y-%m-%d" if at == at.replace(hour=0, minute=0, second=0) else "%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # past year 9999
        return f"{seconds} (Unix seconds)"
