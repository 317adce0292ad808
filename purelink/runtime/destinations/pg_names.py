"""Column names PostgreSQL would cut: it keeps the first 63 bytes of an identifier, so a JSON key of
70 characters landed in a column of another name, and two keys alike in their first 63 bytes
collided in one CREATE TABLE. Such a name is stored as its first bytes and a hash of the whole
(`<prefix>_<8 hex>`, at most 63 bytes, the same on every run), and the column's comment keeps the
name as the source spelled it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import pyarrow as pa

from purelink.runtime import pg
from purelink.runtime.destinations.base import Batch
from purelink.runtime.destinations.duckdb_connection import text_literal

LIMIT = 63  # NAMEDATALEN - 1


def stored_name(name: str) -> str:
    """`name` as the column is called in PostgreSQL: itself when it fits."""
    raw = name.encode()
    if len(raw) <= LIMIT:
        return name
    prefix = raw[:LIMIT - 9].decode(errors="ignore")  # a letter cut in two is left out whole
    return f"{prefix}_{hashlib.md5(raw).hexdigest()[:8]}"


def shortened(batch: Batch) -> tuple[Batch, dict[str, str]]:
    """The batch with every name PostgreSQL would cut replaced by its stored name, and those
    replacements (stored name -> the source's name). Tables an iterable yields are renamed as they
    are read, and their replacements are added then."""
    from purelink.runtime.arrow_batch import ArrowBatch

    if not isinstance(batch, ArrowBatch):
        return _rows_shortened(batch)
    if batch.data is None or isinstance(batch.data, pa.Table):
        return _table_shortened(batch)
    return _stream_shortened(batch)


def _long_names(names: Iterable[str]) -> dict[str, str]:
    return {name: stored_name(name) for name in names if len(name.encode()) > LIMIT}


def _keys_renamed(batch: Batch, long: dict[str, str]) -> dict[str, Any]:
    return {"primary_key": tuple(long.get(k, k) for k in batch.primary_key),
            "times": {long.get(k, k): v for k, v in batch.times.items()}}


def _rows_shortened(batch: Batch) -> tuple[Batch, dict[str, str]]:
    long = _long_names(set(batch.primary_key).union(batch.times, *batch.rows))
    if not long:
        return batch, {}
    rows = [{long.get(k, k): v for k, v in row.items()} for row in batch.rows]
    return replace(batch, rows=rows, **_keys_renamed(batch, long)), {short: name for name, short in long.items()}


def _table_shortened(batch: Any) -> tuple[Batch, dict[str, str]]:
    """An ArrowBatch holding one table, or none (a swap)."""
    columns = batch.data.column_names if batch.data is not None else []
    long = _long_names(set(batch.primary_key).union(batch.times, columns))
    if not long:
        return batch, {}
    renamed = {short: name for name, short in long.items()}
    fields = _keys_renamed(batch, long)
    if batch.data is not None:
        fields["data"] = batch.data.rename_columns([long.get(n, n) for n in columns])
    return replace(batch, **fields), renamed


def _stream_shortened(batch: Any) -> tuple[Batch, dict[str, str]]:
    """An ArrowBatch whose tables an iterable yields: renamed as they are read; `renamed` fills then."""
    long = _long_names(set(batch.primary_key).union(batch.times))
    renamed = {short: name for name, short in long.items()}
    return replace(batch, data=_each_renamed(batch.data, renamed), **_keys_renamed(batch, long)), renamed


def comment_names(cur: Any, schema: str, table: str, renamed: dict[str, str], columns: Iterable[str]) -> None:
    """Keep each shortened column's source name in its comment (`\\d+` and catalog tools show it)."""
    for short in set(renamed) & set(columns):
        cur.execute(f"COMMENT ON COLUMN {pg.qualified(schema, table, short)} IS {text_literal(renamed[short])}")


def _each_renamed(tables: Iterable[pa.Table], renamed: dict[str, str]) -> Iterator[pa.Table]:
    for table in tables:
        long = _long_names(table.column_names)
        renamed.update({short: name for name, short in long.items()})
        yield table.rename_columns([long.get(n, n) for n in table.column_names]) if long else table
