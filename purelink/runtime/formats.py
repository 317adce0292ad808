"""Fields a connector spec declares as Unix times, turned into UTC instants as they are read.

An API that sends `"created": 1767209093` means an instant, and a person reading the table wants
`2025-12-31 19:24:53+00`, not a count of seconds. The value is converted once, with integer
arithmetic (no float on the way, so no rounding), into the ISO 8601 text the rest of the load
already types as TIMESTAMPTZ. The raw record is left alone: the incremental cursor keeps reading
the API's own seconds, which is what the time filter sends back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from purelink.runtime.records import column_name, is_instant

#: units a spec may declare, and how many of them make a second
UNITS = {"unix-seconds": 1, "unix-ms": 1000}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: 9999-12-31T23:59:59Z: the last second every store (and Python) can hold
MAX_SECONDS = 253402300799


def max_value(unit: str) -> int:
    """The largest value of `unit` that is still within year 9999 (its last second included)."""
    return (MAX_SECONDS + 1) * UNITS[unit] - 1


def unix_to_iso(value: Any, unit: str = "unix-seconds") -> str | None:
    """`1767209093` -> `'2025-12-31T19:24:53Z'`; None for a value that is not a Unix time.

    An ISO 8601 instant is kept as it is (an API that moved to text timestamps still means the
    time). Other strings, booleans, fractions, negative numbers and instants past year 9999 are not
    times an API meant; the caller keeps them NULL and tells the user.
    """
    if isinstance(value, str) and is_instant(value):
        return value
    per = UNITS[unit]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= max_value(unit):
        return None
    seconds, part = divmod(value, per)
    text = (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{part * 1_000_000 // per:06d}Z" if part else f"{text}Z"


def time_columns(formats: Mapping[str, str]) -> dict[str, str]:
    """Declared field paths as the columns they land in (`status_transitions.paid_at` ->
    `status_transitions_paid_at`), each with its unit."""
    return {column_name(path): unit for path, unit in formats.items()}


def apply_formats(row: dict, columns: Mapping[str, str]) -> tuple[dict, list[str]]:
    """The row with its declared time columns as ISO 8601 text, and the columns whose value was
    not a Unix time (now NULL). The row given is not changed: without a column selection it is
    the API record itself, which the cursor still reads."""
    if not columns:
        return row, []
    out, bad = None, []
    for column, unit in columns.items():
        value = row.get(column)
        if value is None:
            continue
        if out is None:
            out = dict(row)
        out[column] = unix_to_iso(value, unit)
        if out[column] is None:
            bad.append(column)
    return (row if out is None else out), bad
