"""The rows a key-less stream's incremental run reads again, replaced instead of added again.

A stream without a primary key has nothing to merge by. With a time filter, each incremental
run reads again the window from its saved cursor minus the lookback (and a lower-bound-only
filter reads the newest record again even without one): appended, those records doubled with
every run. Instead the first commit of such a sync deletes the rows whose time lies in the range
it reads, [lo, hi), in the same transaction that inserts its first page: what the API lists for
the range replaces what was loaded for it, so re-reads never double, late and changed records
are picked up, and two identical records stay two rows.

Times compare as the time filter reads them (`windows.to_unix`): an instant column as instants,
a number column as Unix seconds, a text column value by value in Python (a cast in SQL would read
a naive text in the session's time zone, or ignore an offset).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from purelink.runtime import pg
from purelink.runtime.windows import to_unix

REREAD = "reread"  # state key: the range the sync's first commit still has to clear (see Extraction)


@dataclass(frozen=True)
class Reread:
    """The time range [lo, hi) (Unix seconds; hi None: no upper bound) whose rows a sync reads
    again, and the column the time filter's field lands in."""

    column: str
    lo: int
    hi: int | None = None

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: Any) -> Reread | None:
        return cls(**state) if isinstance(state, dict) else None


def _seconds(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return to_unix(value)
    return to_unix(value)


def _texts_within(values: list[Any], reread: Reread) -> list[str]:
    """The texts among `values` whose time lies in the range."""
    found = []
    for value in values:
        at = _seconds(value)
        if at is not None and at >= reread.lo and (reread.hi is None or at < reread.hi):
            found.append(value)
    return found


def clear_duckdb(destination: Any, batch: Any) -> None:
    """Delete the rows of the batch's table in its `reread` range, if it has one (a `DuckDBDestination`)."""
    reread = batch.reread
    if reread is None:
        return
    con, target = destination.con, destination.target(batch.schema, batch.table)
    columns: dict[str, str] = destination._table_columns(batch.schema, batch.table)  # name -> logical type
    column = next((c for c in columns if c.lower() == reread.column.lower()), None)  # DuckDB folds case
    if column is None:
        return  # no such column yet (a first page), or the recipe no longer loads it
    q, kind = pg.quote(column), columns[column]  # DuckDB quotes names as PostgreSQL does
    if kind in ("varchar", "json"):
        values = [v for (v,) in con.execute(f"SELECT DISTINCT CAST({q} AS VARCHAR) FROM {target}").fetchall()]
        texts = _texts_within(values, reread)
        if texts:
            con.execute(f"DELETE FROM {target} WHERE list_contains(?, CAST({q} AS VARCHAR))", [texts])
        return
    value = "epoch({})" if kind == "timestamptz" else "{}"
    upper = f" AND {value.format(q)} < ?" if reread.hi is not None else ""
    con.execute(f"DELETE FROM {target} WHERE {value.format(q)} >= ?{upper}",
                [reread.lo, *([reread.hi] if reread.hi is not None else [])])


def clear_postgres(destination: Any, batch: Any) -> None:
    """Delete the rows of the batch's table in its `reread` range, if it has one (a `PostgresDestination`)."""
    reread = batch.reread
    if reread is None:
        return
    cur, target = destination.cur, pg.qualified(destination.schema, batch.table)
    kind = destination._table_columns(batch.table).get(reread.column)  # name -> SQL type
    if kind is None:
        return
    q = pg.quote(reread.column)
    if kind.startswith(("text", "character", "json")):
        values = [v for (v,) in pg.fetch(cur, f"SELECT DISTINCT CAST({q} AS text) FROM {target}", [])]
        texts = _texts_within(values, reread)
        if texts:  # COPY'd into a temporary table: no statement takes a list of values as one parameter
            cur.adbc_ingest("purelink_reread", pa.table({"v": texts}), mode="replace", temporary=True)
            cur.execute(f"DELETE FROM {target} WHERE CAST({q} AS text) IN (SELECT v FROM pg_temp.purelink_reread)")
        return
    value = f"extract(epoch FROM {q})" if kind.startswith("timestamp") else q
    upper = f" AND {value} < $2" if reread.hi is not None else ""
    cur.execute(f"DELETE FROM {target} WHERE {value} >= $1{upper}",
                parameters=[reread.lo, *([reread.hi] if reread.hi is not None else [])])
