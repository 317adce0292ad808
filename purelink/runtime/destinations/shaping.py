"""Shaping rows and columns before DuckDB loads them: one batch per table per commit, field names
folded to the table's spelling, and the cast that rewrites loaded values when a column widens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from purelink.runtime.arrow_batch import ArrowBatch
from purelink.runtime.destinations.base import Batch, SchemaChange
from purelink.runtime.formats import UNITS, max_value
from purelink.runtime.records import EXACT, dedupe, folded, json_text, widen


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


ISO_UTC = ("CASE WHEN epoch_us({0}) % 1000000 = 0 THEN strftime({0} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') "
           "ELSE strftime({0} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') END")

#: a DOUBLE as text, a whole number without DuckDB's `.0`: an API's 42 in a column of floats was 42
#: (-0.0 keeps its sign: as a BIGINT it would be 0)
WHOLE_TEXT = (f"CASE WHEN {{0}} = trunc({{0}}) AND abs({{0}}) <= {EXACT} AND NOT ({{0}} = 0 AND signbit({{0}})) "
              "THEN CAST(CAST({0} AS BIGINT) AS VARCHAR) "
              "ELSE CAST({0} AS VARCHAR) END")


def widening_cast(column: str, old: str, new: str) -> str:
    """The USING clause that rewrites loaded values when a column widens.

    A timestamp becomes ISO 8601 text in UTC, whatever the session's time zone: DuckDB's own
    cast would write local time (`2020-09-13 08:28:17-04` under America/New_York), which reads
    differently from the same value arriving later as text.
    """
    value = quote(column)
    if old == "timestamptz":
        value = ISO_UTC.format(value)
        return f" USING to_json({value})" if new == "json" else f" USING {value}"
    if old == "double" and new == "varchar":  # 42 stays 42 (DuckDB would write 42.0), as PostgreSQL does
        return f" USING {WHOLE_TEXT.format(value)}"
    return f" USING to_json({value})" if new == "json" else ""


def exact_widening(old: str, kind: str, new: str, arriving: Any, stored_beyond: Callable[[], bool]) -> str:
    """`new`, or text where a DOUBLE would round integers past 2**53 of the column, those stored
    (`stored_beyond()`) or those `arriving` (an Arrow column): a float among large integers keeps
    every value exactly as the API sent it."""
    if new != "double" or "bigint" not in (old, kind):
        return new
    if kind == "bigint":
        import pyarrow.compute as pc

        extremes = pc.min_max(arriving)
        low, high = extremes["min"].as_py(), extremes["max"].as_py()
        if low is not None and (low < -EXACT or high > EXACT):
            return "varchar"
    return "varchar" if old == "bigint" and stored_beyond() else new


def as_stored(table: pa.Table, rows: list[dict], types: dict[str, str], stored: dict[str, str]) -> pa.Table:
    """`table` (a batch typed by its own values, `types`) with each column that goes into a column
    of another kind (`stored`) holding the text that column keeps: a number going into text keeps
    its own digits (`2`, where the batch's DOUBLE would read `2.0`), a boolean its JSON spelling
    (`true`, as a column of numbers and booleans keeps it); a string, number or boolean
    going into JSON is that value as JSON (`"abc"`: the bare text would be parsed, `123` into a
    number and `abc` into an error)."""
    for column, kind in types.items():
        into = stored.get(column)
        if into == "json" and kind not in ("json", "null"):
            values = [None if (v := row.get(column)) is None else json_text(v) for row in rows]
        elif into == "varchar" and kind in ("bigint", "double", "boolean"):
            spell = json_text if kind == "boolean" else str
            values = [None if (v := row.get(column)) is None else spell(v) for row in rows]
        else:
            continue
        table = table.set_column(table.schema.get_field_index(column), column, pa.array(values, pa.string()))
    return table


def epoch_using(batch: Batch, column: str, old: str, new: str) -> str | None:
    """The USING clause that turns a BIGINT column of Unix times (how a declared time field was
    stored before it was typed) into TIMESTAMPTZ, or None when the column is not such a case.

    Integer microseconds all the way (DuckDB's to_timestamp takes a DOUBLE); a value no API means
    as a time (negative, past year 9999) becomes NULL, as it does when it arrives in a record.
    """
    unit = batch.times.get(column)
    if old != "bigint" or new != "timestamptz" or unit is None:
        return None
    q, per = quote(column), UNITS[unit]
    return (f" USING CASE WHEN {q} BETWEEN 0 AND {max_value(unit)} THEN TIMESTAMPTZ '1970-01-01 00:00:00+00' "
            f"+ to_microseconds({q} * {1_000_000 // per}) END")


def refresh_changes(batch: Batch, stored: dict[str, str], before: dict[str, str],
                    sql_types: dict[str, str]) -> list[SchemaChange]:
    """A table rebuilt by a full refresh, compared with the one it replaced. A column is called
    dropped only under an explicit selection: with every field loaded, a page may just lack it."""
    changes = []
    for c, kind in stored.items():
        old = before.get(c)
        if before and old is None:
            changes.append(SchemaChange(batch.stream, batch.table, c, "added", None, sql_types[kind]))
        elif old is not None and old != kind and widen(old, kind) == kind:
            changes.append(SchemaChange(batch.stream, batch.table, c, "widened", sql_types[old], sql_types[kind]))
        elif old == "bigint" and kind == "timestamptz" and c in batch.times:  # Unix seconds, now typed
            changes.append(SchemaChange(batch.stream, batch.table, c, "retyped", sql_types[old], sql_types[kind]))
    if batch.selected:
        changes += [SchemaChange(batch.stream, batch.table, c, "dropped", sql_types[k], None)
                    for c, k in before.items() if c not in stored]
    return changes


def fold_case(rows: list[dict], existing: dict[str, str]) -> list[dict]:
    """Rows whose field names match a column in all but case use the column's spelling.

    DuckDB folds case in column names: `Email` on one record and `email` on another are one
    column, and adding the second spelling fails with "Column already exists". A record holding
    both spellings at once is dead-lettered before it gets here.
    """
    names: dict[str, str] = {folded(name): name for name in existing}
    rename: dict[str, str] = {}
    for row in rows:
        for key in row:
            if key in rename:
                continue
            canonical = names.setdefault(folded(key), key)
            rename[key] = canonical
    changes = {k: v for k, v in rename.items() if k != v}
    if not changes:
        return rows
    return [{changes.get(k, k): v for k, v in row.items()} if changes.keys() & row.keys() else row
            for row in rows]


def coalesce(batches: Sequence[Batch]) -> list[Batch]:
    """One batch of rows per table: a commit of N pages costs one DELETE and one INSERT, not N.
    Batches of other kinds (a SQL source's Arrow batches) keep their place and order."""
    out: list[Batch] = []
    merged: dict[tuple, Batch] = {}
    for b in batches:
        if isinstance(b, ArrowBatch) or b.replaces:
            out.append(b)
            continue
        if not b.rows:
            continue
        key = (b.pipeline, b.stream, b.schema, b.table, b.primary_key, b.generation)
        if key not in merged:
            merged[key] = Batch(b.pipeline, b.stream, b.schema, b.table, b.primary_key, list(b.rows),
                                generation=b.generation, selected=b.selected, times=b.times)
            out.append(merged[key])
        else:
            merged[key].rows.extend(b.rows)
    for m in merged.values():
        m.rows = dedupe(m.rows, m.primary_key)
    return out
