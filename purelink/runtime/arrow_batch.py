"""Batches that arrive as Arrow (SQL sources), and how their columns map to SQL types.

A REST `Batch` carries Python dicts whose types are inferred. A database already knows its
types, so an `ArrowBatch` carries Arrow data as the driver produced it and each destination
declares columns from the Arrow schema and the source's decisions in its field metadata
(pg_types): numeric(12,3) stays a 12,3 decimal, jsonb stays JSON, inet keeps its exact text in
DuckDB and is inet again in the warehouse. Nothing is converted row by row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from purelink.runtime.destinations.base import STAGE, Batch
from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.pg_types import DECIMAL, DUCKDB, EXACT_TEXT, WAREHOUSE, ColumnRead

PG_TYPE = b"POSTGRESQL:type"
PG_TYPMOD = b"POSTGRESQL:typmod"
MAX_DECIMAL_PRECISION = 38  # decimal128, and DuckDB's DECIMAL


@dataclass
class ArrowBatch(Batch):
    """Rows of one stream as Arrow, and the state they advance.

    `load` says where the rows go:
    - "merge": into the table, replacing rows with the same primary key (appended without one);
    - "stage": appended to the stream's staging table (`fresh` drops what an earlier, killed run
      left there), so a whole-table reload is written batch by batch with bounded memory;
    - "swap": no rows; the staging table replaces the table's rows, atomically, with `state`.
    `data` is one table or an iterable of tables, consumed inside the commit's transaction.
    """

    data: pa.Table | Iterable[pa.Table] | None = None
    load: str = "merge"
    fresh: bool = False

    def tables(self, *, exact_text: bool = False) -> Iterator[pa.Table]:
        """The rows, numerals of unconstrained numeric columns as decimal128; `exact_text` keeps
        them as PostgreSQL's text (the warehouse casts that back to numeric, each scale intact)."""
        if self.data is None:
            return iter(())
        tables = (self.data,) if isinstance(self.data, pa.Table) else self.data
        return iter(tables) if exact_text else (decimals(t) for t in tables)


def stage_name(table: str) -> str:
    """The staging table of a whole-table reload, beside its table until the swap renames it."""
    return f"{STAGE}{table}"


def pg_typename(field: pa.Field) -> str | None:
    meta = field.metadata or {}
    value = meta.get(PG_TYPE)
    return value.decode() if value else None


def numeric_precision(field: pa.Field) -> tuple[int, int] | None:
    """(precision, scale) of a PostgreSQL numeric column declared with them, else None."""
    raw = (field.metadata or {}).get(PG_TYPMOD)
    if not raw:
        return None
    typmod = int(raw)
    if typmod < 4:  # -1: numeric without precision
        return None
    precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
    if not 0 < precision <= MAX_DECIMAL_PRECISION or scale > precision:
        return None
    return precision, scale


def _storage(array: pa.ChunkedArray) -> pa.ChunkedArray:
    """Strip an extension type (arrow.opaque and the like) down to its storage."""
    storage_type = array.type.storage_type
    return pa.chunked_array([chunk.storage for chunk in array.chunks], type=storage_type)


def normalize(table: pa.Table, reads: dict[str, ColumnRead] | None = None) -> pa.Table:
    """Make driver output loadable everywhere, keeping every value exact.

    `reads` (from pg_types) says how each column was selected: its decision rides along in the
    field's metadata, and text numerals it marks become decimal128(p,s). Without it (a caller that
    read by itself), `numeric(p,s)` becomes a decimal by its typmod and other opaque types keep
    their storage. Infinite dates and timestamps come out of the driver wrapped around; they are
    put back as the values DuckDB reads as `infinity` (see `INFINITIES`).
    """
    reads = reads or {}
    columns, fields = [], []
    for field, column in zip(table.schema, table.columns):
        kind, metadata = field.type, dict(field.metadata or {})
        read = reads.get(field.name)
        if read is not None:
            metadata.update(read.metadata())
        if isinstance(kind, pa.BaseExtensionType) and kind.extension_name == "arrow.opaque":
            column = _storage(column)
            precision = numeric_precision(field)
            if precision is not None and read is None:
                column = pc.cast(column, pa.decimal128(*precision))
        if read is not None and read.decimal is not None and not read.exact_text:
            column = _decimal(column, field.name, read.decimal)
        column = _infinities(column)
        columns.append(column)
        fields.append(pa.field(field.name, column.type, nullable=True, metadata=metadata or None))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def decimals(table: pa.Table) -> pa.Table:
    """Text numerals that `normalize` left exact (EXACT_TEXT) as the decimal128(p,s) their DECIMAL
    metadata names: what DuckDB, BigQuery and Iceberg receive."""
    for index, field in enumerate(table.schema):
        meta = field.metadata or {}
        if EXACT_TEXT not in meta:
            continue
        precision, scale = (int(n) for n in meta[DECIMAL].decode().split(","))
        column = _decimal(table.column(index), field.name, (precision, scale))
        kept = {k: v for k, v in meta.items() if k != EXACT_TEXT}
        table = table.set_column(index, pa.field(field.name, column.type, nullable=True, metadata=kept), column)
    return table


def _decimal(column: pa.ChunkedArray, name: str, size: tuple[int, int]) -> pa.ChunkedArray:
    try:
        return pc.cast(column, pa.decimal128(*size))
    except pa.ArrowInvalid:  # a value written after the run sized the column
        raise RuntimeFailure(f"Column {name} received a value that does not fit DECIMAL{size}.",
                             "Run the pipeline again: each run sizes the column from the values it finds.") from None


# The driver adds the 2000 -> 1970 epoch shift to PostgreSQL's infinity sentinels (INT32/INT64
# max and min), wrapping around; DuckDB reads the max (and minus the max) as +-infinity.
INFINITIES = {
    pa.int32(): {-2147472692: 2**31 - 1, -2147472691: -(2**31 - 1)},
    pa.int64(): {-9222425352054775809: 2**63 - 1, -9222425352054775808: -(2**63 - 1)},
}


def _infinities(column: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = column.type
    if not (pa.types.is_date32(kind) or pa.types.is_timestamp(kind)):
        return column
    storage = pa.int32() if pa.types.is_date32(kind) else pa.int64()
    raw = column.cast(storage)
    wrapped = INFINITIES[storage]
    if not pc.any(pc.is_in(raw, pa.array(list(wrapped), storage))).as_py():
        return column
    for bad, good in wrapped.items():
        raw = pc.if_else(pc.equal(raw, bad), pa.scalar(good, storage), raw)
    return raw.cast(kind)


def warehouse_ready(table: pa.Table, *, text: Iterable[str] = ()) -> pa.Table:
    """Dates and timestamps holding an infinity, and the columns named in `text`, as PostgreSQL
    text ('infinity', '0044-03-15 BC'), which the warehouse casts back: the driver's COPY writer
    cannot send an infinity. `text` keeps the batches of one staging table agreeing on its types."""
    forced = set(text)
    for index, field in enumerate(table.schema):
        kind = field.type
        if not (pa.types.is_date32(kind) or pa.types.is_timestamp(kind)):
            continue
        storage = pa.int32() if pa.types.is_date32(kind) else pa.int64()
        raw = table.column(index).cast(storage)
        top = 2**31 - 1 if storage == pa.int32() else 2**63 - 1
        plus, minus = pc.equal(raw, top), pc.equal(raw, -top)
        if field.name not in forced and not pc.any(pc.or_(plus, minus)).as_py():
            continue
        finite = pc.if_else(pc.or_(plus, minus), pa.scalar(None, storage), raw).cast(kind)
        rendered = pc.if_else(plus, "infinity", pc.if_else(minus, "-infinity", _pg_text(finite)))
        table = table.set_column(index, pa.field(field.name, pa.string(), metadata=field.metadata), rendered)
    return table


def _pg_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO text PostgreSQL reads back; Arrow writes year 44 BC as -0043, PostgreSQL wants '0044 ... BC'."""
    rendered = column.cast(pa.string())
    if not pc.any(pc.starts_with(rendered, "-")).as_py():
        return rendered

    def era(value: str | None) -> str | None:
        if value is None or not value.startswith("-"):
            return value
        year, rest = value[1:].split("-", 1)
        return f"{int(year) + 1:04d}-{rest.removesuffix('Z')}{'+00' if rest.endswith('Z') else ''} BC"

    return pa.chunked_array([pa.array([era(v) for v in rendered.to_pylist()], pa.string())])


def duckdb_casts(schema: pa.Schema) -> dict[str, str]:
    """Columns DuckDB should cast as they load (timetz and bit arrive as their text form)."""
    return {f.name: (f.metadata or {})[DUCKDB].decode() for f in schema if DUCKDB in (f.metadata or {})}


def pg_type(field: pa.Field) -> str:
    """The PostgreSQL column type for an Arrow field (from a PostgreSQL source or elsewhere)."""
    kind, typename = field.type, pg_typename(field)
    if WAREHOUSE in (field.metadata or {}):  # decided by the source from its catalog (pg_types)
        return field.metadata[WAREHOUSE].decode()
    if isinstance(kind, pa.BaseExtensionType):
        name = kind.extension_name
        if name == "arrow.json":
            return "jsonb" if typename == "jsonb" else "json"
        if name == "arrow.uuid":
            return "uuid"
        kind = kind.storage_type
    if typename == "numeric" and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return "numeric"  # exact, unbounded: the text form casts back losslessly
    if typename == "bpchar":
        typmod = int((field.metadata or {}).get(PG_TYPMOD, b"-1"))
        return f"char({typmod - 4})" if typmod > 4 else "bpchar"  # trailing blanks stay insignificant
    if pa.types.is_decimal(kind):
        return f"numeric({kind.precision},{kind.scale})"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return pg_type(kind.value_field) + "[]"
    if pa.types.is_timestamp(kind):
        return "timestamptz" if kind.tz else "timestamp"
    for test, name in SIMPLE_PG:
        if test(kind):
            return name
    return "text"


SIMPLE_PG = (
    (pa.types.is_boolean, "boolean"), (pa.types.is_int8, "smallint"), (pa.types.is_int16, "smallint"),
    (pa.types.is_uint8, "smallint"), (pa.types.is_int32, "integer"), (pa.types.is_uint16, "integer"),
    (pa.types.is_int64, "bigint"), (pa.types.is_uint32, "bigint"), (pa.types.is_uint64, "numeric(20,0)"),
    (pa.types.is_float16, "real"), (pa.types.is_float32, "real"), (pa.types.is_float64, "double precision"),
    (pa.types.is_date, "date"), (pa.types.is_time, "time"), (pa.types.is_interval, "interval"),
    (pa.types.is_duration, "interval"), (pa.types.is_binary, "bytea"), (pa.types.is_large_binary, "bytea"),
    (pa.types.is_fixed_size_binary, "bytea"), (pa.types.is_struct, "jsonb"), (pa.types.is_map, "jsonb"),
)
