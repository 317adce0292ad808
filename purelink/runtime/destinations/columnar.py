"""Rows shaped for the table-file destinations (BigQuery, Iceberg): one Arrow table per load,
with real types and the metadata columns, whatever kind of batch they came in.

DuckDB and PostgreSQL receive text for timestamps and JSON and cast it in SQL. BigQuery's Parquet
load jobs and Iceberg's data files take the column types of the file as they are, so the casts
happen here, in Arrow: timestamps become microseconds in UTC, JSON stays text, and types neither
store knows (extension types, nanoseconds, unsigned integers) become ones they do.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from purelink.runtime import bookkeeping
from purelink.runtime.destinations.base import Batch, typed_table

# Purelink's bookkeeping tables (`_purelink.*`) as Arrow columns, for the stores that are written
# through Arrow (BigQuery, Iceberg); the one definition is purelink.runtime.bookkeeping.
TEXT = pa.string()
BOOKKEEPING = {name: bookkeeping.arrow_columns(name) for name in bookkeeping.TABLES}

TIMESTAMP = pa.timestamp("us", tz="UTC")
LOGICAL_ARROW = {"boolean": pa.bool_(), "bigint": pa.int64(), "double": pa.float64(), "varchar": pa.string(),
                 "json": pa.string(), "timestamptz": TIMESTAMP, "null": pa.string()}
TIMESTAMP_META = bookkeeping.META_TIMES


def rest_table(batch: Batch, *, run_id: str, extracted_at: datetime, airbyte: bool) -> tuple[pa.Table, dict[str, str]]:
    """An API batch as Arrow with the logical types (`typed_table`) turned into real columns."""
    table, types = typed_table(batch.rows, run_id=run_id, extracted_at=extracted_at, airbyte=airbyte,
                               generation=batch.generation, times=batch.times, keys=batch.primary_key)
    columns = [pc.cast(table[name], LOGICAL_ARROW[types[name]]) for name in table.column_names]
    return pa.Table.from_arrays(columns, names=table.column_names), types


def storable(table: pa.Table) -> pa.Table:
    """A SQL source's Arrow batch with types both stores accept, values unchanged; field metadata
    (the source's type decisions) is dropped, as neither store has a place for it."""
    columns, names = [], []
    for field, column in zip(table.schema, table.columns):
        if _is_uuid(field):
            column = _uuid_text(column)
        columns.append(_storable(column))
        names.append(field.name)
    return pa.Table.from_arrays(columns, names=names)


def _is_uuid(field: pa.Field) -> bool:
    """A UUID column (PostgreSQL's uuid, Arrow's uuid extension): its 16 bytes become the usual
    text form, which DuckDB shows and every engine reading the table can compare."""
    kind = field.type
    if isinstance(kind, pa.BaseExtensionType) and kind.extension_name == "arrow.uuid":
        return True
    return (field.metadata or {}).get(b"POSTGRESQL:type") == b"uuid" and \
        (pa.types.is_binary(kind) or pa.types.is_fixed_size_binary(kind) or pa.types.is_large_binary(kind))


def _uuid_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if isinstance(column.type, pa.BaseExtensionType):
        column = pa.chunked_array([c.storage for c in column.chunks], type=column.type.storage_type)
    values = [None if v is None else str(uuid.UUID(bytes=v)) for v in column.to_pylist()]
    return pa.chunked_array([pa.array(values, pa.string())])


def _storable(column: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = column.type
    if isinstance(kind, pa.BaseExtensionType):
        column = pa.chunked_array([c.storage for c in column.chunks], type=kind.storage_type)
        kind = column.type
    if pa.types.is_timestamp(kind):
        return pc.cast(column, pa.timestamp("us", tz="UTC" if kind.tz else None))
    if pa.types.is_unsigned_integer(kind):
        return pc.cast(column, pa.int64())
    if pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        return pc.cast(column, pa.binary())
    if pa.types.is_interval(kind):
        return pa.chunked_array([pa.array([iso_duration(v) for v in column.to_pylist()], pa.string())])
    if pa.types.is_null(kind) or pa.types.is_time(kind) or pa.types.is_duration(kind):
        return pc.cast(column, pa.string())
    return column


def iso_duration(value) -> str | None:
    """An interval (months, days, nanoseconds) as ISO 8601 text, `P1M2DT3.5S`: neither store has
    PostgreSQL's interval type, and the months and days of an interval are not a fixed length."""
    if value is None:
        return None
    seconds = f"{value.nanoseconds / 1e9:.9f}".rstrip("0").rstrip(".")
    return f"P{value.months}M{value.days}DT{seconds}S"


def with_meta(table: pa.Table, *, run_id: str, extracted_at: datetime, airbyte: bool, generation: int) -> pa.Table:
    """The metadata columns every loaded row carries, appended to a SQL source's batch."""
    n = table.num_rows
    stamp = pa.array([extracted_at] * n, TIMESTAMP)
    table = table.append_column("_purelink_run_id", pa.array([run_id] * n, pa.string()))
    table = table.append_column("_purelink_extracted_at", stamp)
    if airbyte:
        ids = pa.array([str(uuid.uuid4()) for _ in range(n)], pa.string())
        meta = json.dumps({"changes": [], "sync_id": run_id}, separators=(",", ":"))
        for name, array in (("_airbyte_raw_id", ids), ("_airbyte_extracted_at", stamp),
                            ("_airbyte_meta", pa.array([meta] * n, pa.string())),
                            ("_airbyte_generation_id", pa.array([generation] * n, pa.int64())),
                            ("_airbyte_ab_id", ids), ("_airbyte_emitted_at", stamp)):
            table = table.append_column(name, array)
    return table


def conform(table: pa.Table, existing: pa.Schema) -> pa.Table:
    """`table` with each column cast to the type the stored table already has for it (a page of
    whole numbers into a DOUBLE column, anything into a text column); columns it lacks stay absent."""
    columns = []
    for name in table.column_names:
        column = table[name]
        if name in existing.names and existing.field(name).type != column.type:
            target = existing.field(name).type
            if _text(target) and not _text(column.type):
                column = pc.cast(column, pa.string()) if not pa.types.is_timestamp(column.type) else \
                    pc.strftime(column, "%Y-%m-%dT%H:%M:%S.%fZ")
            else:
                column = pc.cast(column, target)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)
