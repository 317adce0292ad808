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

    keys = set(batch.primary_key) | set(batch.times)
    streamed = isinstance(batch, ArrowBatch) and batch.data is not None and not isinstance(batch.data, pa.Table)
    if isinstance(batch, ArrowBatch):
        names = keys | (set(batch.data.column_names) if isinstance(batch.data, pa.Table) else set())
    else:
        names = keys.union(*batch.rows)
    long = {name: stored_name(name) for name in names if len(name.encode()) > LIMIT}
    renamed = {short: name for name, short in long.items()}
    if not long and not streamed:
        return batch, renamed
    fields: dict[str, Any] = {"primary_key": tuple(long.get(k, k) for k in batch.primary_key),
                              "times": {long.get(k, k): v for k, v in batch.times.items()}}
    if isinstance(batch, ArrowBatch) and batch.data is not None:
        each = _each_renamed((batch.data,) if isinstance(batch.data, pa.Table) else batch.data, renamed)
        fields["data"] = each if streamed else next(each)
    elif not isinstance(batch, ArrowBatch):
        fields["rows"] = [{long.get(k, k): v for k, v in row.items()} for row in batch.rows]
    return replace(batch, **fields), renamed


def comment_names(cur: Any, schema: str, table: str, renamed: dict[str, str], columns: Iterable[str]) -> None:
    """Keep each shortened column's source name in its comment (`\\d+` and catalog tools show it)."""
    for short in set(renamed) & set(columns):
        cur.execute(f"COMMENT ON COLUMN {pg.qualified(schema, table, short)} IS {text_literal(renamed[short])}")


def _each_renamed(tables: Iterable[pa.Table], renamed: dict[str, str]) -> Iterator[pa.Table]:
    for table in tables:
        long = {n: stored_name(n) for n in table.column_names if len(n.encode()) > LIMIT}
        renamed.update({short: name for name, short in long.items()})
        yield table.rename_columns([long.get(n, n) for n in table.column_names]) if long else table
