"""DuckDB columns that an earlier version wrote wrong, found by their values and repaired in the
load's own transaction (the DuckDB side of pg_migrate; money as cents and numbers as text are
converted in `DuckDBArrowDestination._migrate`).

- Dates and timestamps holding PostgreSQL's `infinity` / `-infinity`: the driver's epoch shift
  wrapped PostgreSQL's sentinels around, and DuckDB stored them as year 5877612 BC (dates) or
  290279 BC (timestamps). No real row holds those exact day/microsecond counts, so they are
  put back as DuckDB's own infinities, in place, also inside lists.
- Arrays of more than one dimension were flattened into a one-dimensional LIST. They now arrive
  as their exact text (VARCHAR); the flattened rows cannot be rebuilt from what DuckDB holds, so
  a table that has rows stops the stream, naming the table and column and the way out
  (`--full-refresh` reloads it); an empty one is simply retyped.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from purelink.runtime.arrow_batch import INFINITIES
from purelink.runtime.destinations.shaping import quote
from purelink.runtime.errors import RuntimeFailure

# DuckDB type -> the Arrow type the driver's wrapped sentinels arrived as
TEMPORAL = {"DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us"),
            "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC")}


def _sentinels(con: Any, kind: str) -> list[tuple[str, str]]:
    """(wrapped, meant) pairs as DuckDB text: the values an earlier version stored and the
    infinity each stood for, rendered by DuckDB itself from the driver's raw values."""
    arrow = TEMPORAL[kind]
    storage = pa.int32() if pa.types.is_date32(arrow) else pa.int64()
    wrapped = INFINITIES[storage]
    pairs = pa.table({"wrapped": pa.array(list(wrapped), storage).cast(arrow),
                      "meant": pa.array(list(wrapped.values()), storage).cast(arrow)})
    con.register("purelink_sentinels", pairs)
    try:
        return con.execute("SELECT CAST(wrapped AS VARCHAR), CAST(meant AS VARCHAR) FROM purelink_sentinels").fetchall()
    finally:
        con.unregister("purelink_sentinels")


def repair(con: Any, target: str, column: str, old: str, new: str, source_type: str | None) -> tuple[str, str] | None:
    """Repair one existing column before a merge; (old description, new type) when something was
    repaired, None when nothing needed it. Raises when the column cannot be repaired in place."""
    element = old.removesuffix("[]")
    if element in TEMPORAL:
        return _infinities(con, target, column, old, element)
    if old.endswith("[]") and new == "VARCHAR" and (source_type or "").endswith("[]"):
        return _flattened(con, target, column, old)
    return None


def _infinities(con: Any, target: str, column: str, old: str, element: str) -> tuple[str, str] | None:
    q = quote(column)
    pairs = [(f"CAST('{w}' AS {element})", f"CAST('{m}' AS {element})") for w, m in _sentinels(con, element)]
    fix = "CASE " + " ".join(f"WHEN {{v}} = {w} THEN {m}" for w, m in pairs) + " ELSE {v} END"
    if old.endswith("[]"):
        found = f"list_has_any({q}, [{', '.join(w for w, _ in pairs)}])"
        value = f"list_transform({q}, lambda x: {fix.format(v='x')})"
    else:
        found = f"{q} IN ({', '.join(w for w, _ in pairs)})"
        value = fix.format(v=q)
    count = con.execute(f"SELECT count(*) FROM {target} WHERE {found}").fetchall()[0][0]
    if not count:
        return None
    con.execute(f"UPDATE {target} SET {q} = {value} WHERE {found}")
    year = "5877612 BC" if element == "DATE" else "290279 BC"
    return f"{old} with {count} infinity value(s) as year {year}", old


def _flattened(con: Any, target: str, column: str, old: str) -> tuple[str, str]:
    if con.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]:
        raise RuntimeFailure(
            f"Column {column} of {target} holds one-dimensional arrays ({old}), but the source's arrays have "
            "more than one dimension and now arrive as their exact text: an earlier version flattened them "
            "into this column, and those rows cannot be rebuilt from what the table holds.",
            f"Run the recipe once with --full-refresh: it reloads {target} with every array whole "
            f"(or drop the table: DROP TABLE {target}).")
    con.execute(f"ALTER TABLE {target} ALTER COLUMN {quote(column)} TYPE VARCHAR USING NULL")
    return old, "VARCHAR"
