"""PostgreSQL as a source: tables or queries, read as Arrow batches, full or incremental.

    source = PostgresSource(url="postgresql://etl@db.plant1:5432/refills", password="PGPASSWORD")
    streams = [
        Table("refills", "public.refills"),                      # key and cursor from the catalog
        Table("bodies", "bodies.public.bodies", cursor="updated_at"),  # another database, same server
        Query("failed", "SELECT * FROM springs WHERE quality_status = 'failed'", primary_key="id"),
    ]

Rows travel from the server as binary COPY through ADBC's PostgreSQL driver, straight into Arrow
batches of about `batch_mb` megabytes: never row by row, and never more than a batch or two in
memory. Types stay faithful: each column is read by the rule `pg_types` picks from the catalog
(natively, as its exact text form, or as jsonb for composites); docs/types.md has the table.

A stream with a cursor column (an `updated_at` timestamp or an increasing id) reads only rows
past the saved cursor, in cursor order, and each batch is committed with the cursor it reached.
A stream without one is reloaded whole, in ONE destination transaction, so readers see the old
rows or the new ones, never a mix, and a run killed half way leaves the old rows intact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from purelink.runtime import pg
from purelink.runtime.arrow_batch import PG_TYPE, normalize
from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.pg_types import ColumnRead, column_types, plan_columns, profile

AUTO = "auto"
# Column names that by convention hold "last changed" timestamps, in order of preference; compared
# without case and underscores, so `LastModified`, `last_update` (Pagila) and `UPDATED_AT` match too.
CURSOR_NAMES = ("updated_at", "modified_at", "last_modified", "last_modified_at", "last_updated", "last_update",
                "updated_on", "modified_on", "date_updated", "date_modified", "update_time", "modify_time",
                "updated", "modified", "changed_at", "last_changed", "changed")
CURSOR_TYPES = {"timestamptz", "timestamp", "date", "int2", "int4", "int8", "numeric"}
CURSOR_SETTING = "purelink.cursor"


@dataclass
class PostgresSource:
    """A PostgreSQL server: its URL without the password, and the secret holding the password."""

    url: str
    password: str | None = "PGPASSWORD"
    name: str = "postgres"
    # The driver's batch size hint: peak memory follows it, not the table size. 64 MB makes batches
    # of more than one DuckDB row group (122,880 rows) for typical rows, which DuckDB writes straight
    # to the file instead of through its log: a third less CPU than 16 MB batches.
    batch_mb: int = 64

    def connect(self, database: str | None = None) -> Any:
        return pg.connect(self.url, password=self.password, database=database, role="source")

    def identity(self, database: str | None = None) -> str:
        """`host:port/db`: who the rows come from, recorded as the owner of the tables they fill."""
        return pg.describe(self.url, database).split("@", 1)[-1]


@dataclass
class _SqlStream:
    name: str
    primary_key: str | tuple[str, ...] | None = None
    cursor: str | None = None
    into: str | None = None  # destination table; default: the stream's name
    source: PostgresSource | None = None  # the server to read from; default: the run's source

    @property
    def key(self) -> tuple[str, ...]:
        if not self.primary_key or self.primary_key == AUTO:
            return ()
        return (self.primary_key,) if isinstance(self.primary_key, str) else tuple(self.primary_key)

    @property
    def table_name(self) -> str:
        return self.into or self.name


@dataclass
class Table(_SqlStream):
    """A table or view: `table`, `schema.table` or `database.schema.table` (same server and user).

    `primary_key` and `cursor` default to "auto": the table's declared primary key, and the first
    timestamp column named like `updated_at`; without such a column the table is reloaded whole.
    """

    table: str | None = None
    columns: list[str] | None = None  # None: every column
    primary_key: str | tuple[str, ...] | None = AUTO
    cursor: str | None = AUTO

    def __init__(self, name: str, table: str | None = None, *, primary_key: str | tuple[str, ...] | None = AUTO,
                 cursor: str | None = AUTO, columns: list[str] | None = None, into: str | None = None,
                 source: PostgresSource | None = None) -> None:
        super().__init__(name=name, primary_key=primary_key, cursor=cursor, into=into, source=source)
        self.table, self.columns = table, columns

    @property
    def parts(self) -> tuple[str | None, str, str]:
        """(database or None, schema, table)."""
        bits = (self.table or self.name).split(".")
        if len(bits) > 3:
            raise RuntimeFailure(f"{self.table!r} has too many dots.", "Write database.schema.table at most.")
        database, schema, table = [None] * (3 - len(bits)) + bits
        return database, schema or "public", table or ""

    @property
    def database(self) -> str | None:
        return self.parts[0]


@dataclass
class Query(_SqlStream):
    """A SELECT whose result is loaded like a table; name its key and cursor if it has them."""

    sql: str = ""
    database: str | None = None

    def __init__(self, name: str, sql: str, *, primary_key: str | tuple[str, ...] | None = None,
                 cursor: str | None = None, database: str | None = None, into: str | None = None,
                 source: PostgresSource | None = None) -> None:
        super().__init__(name=name, primary_key=primary_key, cursor=cursor, into=into, source=source)
        self.sql, self.database = sql.strip().rstrip(";"), database


SqlStream = Table | Query


@dataclass
class Plan:
    """What reading a stream will do, decided once from the catalog and a zero-row probe."""

    stream: SqlStream
    relation: str  # the FROM clause
    columns: list[str]
    schema: pa.Schema
    key: tuple[str, ...]
    cursor: str | None
    cursor_type: str | None
    estimated_rows: int | None
    notes: list[str] = field(default_factory=list)  # worth a warning event
    reads: list[ColumnRead] = field(default_factory=list)  # how each column is selected (pg_types)

    @property
    def mode(self) -> str:
        return f"incremental by {self.cursor}" if self.cursor else "full reload"


def plan_stream(cur: Any, stream: SqlStream) -> Plan:
    """Check that the stream exists and is readable, and settle its key, cursor and columns."""
    notes: list[str] = []
    if isinstance(stream, Table):
        _, schema, table = stream.parts
        relation = pg.qualified(schema, table)
        regclass = pg.fetch(cur, "SELECT to_regclass(format('%I.%I', $1::text, $2::text))::oid::bigint, "
                                 "(SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass("
                                 "format('%I.%I', $1::text, $2::text)))", [schema, table])[0]
        if regclass[0] is None:
            raise RuntimeFailure(f"There is no table {schema}.{table} in the source database.",
                                 "Check the stream's table name; `purelink sources show postgres` lists tables.")
        estimated = int(regclass[1]) if regclass[1] is not None and regclass[1] >= 0 else None
        declared = _primary_key(cur, schema, table)
        key = declared if stream.primary_key == AUTO else stream.key
    else:
        relation = f"({stream.sql}) AS purelink_query"
        estimated, key = None, stream.key
    chosen = "*" if not isinstance(stream, Table) or stream.columns is None else \
        ", ".join(pg.quote(c) for c in dict.fromkeys([*key, *stream.columns]))
    try:
        cur.execute(f"SELECT {chosen} FROM {relation} LIMIT 0")
        probe = cur.fetch_arrow_table().schema
    except pg.driver().Error as exc:
        cur.connection.rollback()
        raise RuntimeFailure(f"Cannot read stream {stream.name}: {pg.first_line(exc)}",
                             "Check the table, columns or query, and that the user has SELECT on them.") from None
    names = probe.names
    missing = [k for k in key if k not in names]
    if missing:
        raise RuntimeFailure(f"Stream {stream.name} has no column {', '.join(missing)} for its primary key.",
                             f"Its columns are: {', '.join(names)}.")
    cursor = stream.cursor
    if cursor == AUTO:
        cursor = guess_cursor({c: _typename(probe, c) for c in names})
    if cursor and cursor not in names:
        raise RuntimeFailure(f"Stream {stream.name} has no cursor column {cursor!r}.",
                             f"Its columns are: {', '.join(names)}.")
    if cursor and not key:
        notes.append("no primary key: rows changed since the last run are appended, not merged")
    reads = _column_reads(cur, stream, relation, probe, cursor)
    notes.extend(r.note for r in reads if r.note)
    return Plan(stream, relation, names, probe, key, cursor, _typename(probe, cursor) if cursor else None,
                estimated, notes, reads)


def _column_reads(cur: Any, stream: SqlStream, relation: str, probe: pa.Schema, cursor: str | None) -> list[ColumnRead]:
    """Each column's SELECT expression and destination types, from the catalog and one profile scan."""
    try:
        types = column_types(cur, probe, stream.parts[1:] if isinstance(stream, Table) else None)
        reads = plan_columns(types, profile(cur, relation, types))
    except pg.driver().Error as exc:
        cur.connection.rollback()
        raise RuntimeFailure(f"Cannot read the column types of stream {stream.name}: {pg.first_line(exc)}",
                             "Check that the user can read the table and the catalog (pg_type).") from None
    for read in reads:
        if read.name == cursor:  # compared and ordered by its own type: never read as text
            read.expression = pg.quote(read.name)
            read.exact_text = False
    return reads


def guess_cursor(columns: dict[str, str | None]) -> str | None:
    """The column (name -> PostgreSQL type) that by its name and type holds "last changed", or None."""
    plain = {name.lower().replace("_", ""): name for name, kind in columns.items() if kind in CURSOR_TYPES}
    return next((plain[n] for n in (c.replace("_", "") for c in CURSOR_NAMES) if n in plain), None)


def _typename(schema: pa.Schema, column: str) -> str | None:
    meta = schema.field(column).metadata or {}
    return meta.get(PG_TYPE, b"").decode() or None


def _primary_key(cur: Any, schema: str, table: str) -> tuple[str, ...]:
    rows = pg.fetch(cur, "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                         "AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND i.indrelid = "
                         "to_regclass(format('%I.%I', $1::text, $2::text)) "
                         "ORDER BY array_position(i.indkey::int2[], a.attnum)", [schema, table])
    return tuple(r[0] for r in rows)


def read_batches(cur: Any, plan: Plan, *, after: Any = None, limit: int | None = None,
                 batch_mb: int = 64) -> Iterator[pa.Table]:
    """The stream's rows as normalized Arrow tables; at least one table (maybe empty) is yielded.

    The cursor value reaches the server as a bound parameter of `set_config`, and the query reads
    it back with `current_setting`: a parameterized query would make the driver leave COPY and
    buffer the whole result.
    """
    selects = [r.select() for r in plan.reads] or [pg.quote(c) for c in plan.columns]
    sql = f"SELECT {', '.join(selects)} FROM {plan.relation}"
    if plan.cursor and plan.cursor_type and after is not None:
        # Rows without a cursor value cannot be placed after any cursor: they are read on every run
        # (and merged on the key), rather than loaded once and then never again.
        pg.fetch(cur, "SELECT set_config($1, $2, false)", [CURSOR_SETTING, _setting(after)])
        column = pg.quote(plan.cursor)
        sql += (f" WHERE {column} > (SELECT CAST(current_setting('{CURSOR_SETTING}') "
                f"AS {pg.quote(plan.cursor_type)})) OR {column} IS NULL")
    if plan.cursor:
        sql += f" ORDER BY {pg.quote(plan.cursor)}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_mb * 1024 * 1024)})
    try:
        cur.execute(sql)
        reader = cur.fetch_record_batch()
        empty = True
        reads = {r.name: r for r in plan.reads}
        for record_batch in reader:
            empty = False
            yield normalize(pa.Table.from_batches([record_batch]), reads)
        if empty:
            yield normalize(reader.schema.empty_table(), reads)
    except pg.driver().Error as exc:
        raise RuntimeFailure(f"Reading stream {plan.stream.name} failed: {pg.first_line(exc)}",
                             "Nothing of the failed batch was committed; run again once the cause is fixed.") \
            from None


def cursor_batches(tables: Iterator[pa.Table], cursor: str, *, horizon: Any = None) -> Iterator[tuple[pa.Table, Any]]:
    """(rows, cursor value) pairs such that every row with cursor <= value is in this or an earlier pair.

    Rows come sorted by cursor. The rows sharing a batch's highest value are held back to the next
    batch, because more rows with that same value may follow; committing a cursor of v therefore
    never skips a row on resume, and `cursor > v` never re-reads one.

    `horizon` caps the value: a transaction still open while we read may commit rows stamped
    earlier than what we saw; the next run reads again from the horizon (the source's clock minus
    the lookback), so those rows arrive then.

    A cursor of `infinity` is never saved: nothing could come after it, so every later row would be
    skipped for good. Those rows are loaded and read again on every run, as rows without a cursor
    are (merged on the key, they are not doubled); `-infinity` is a value like any other.
    """
    def capped(value: Any) -> Any:
        if value is None or horizon is None or value == "-infinity":
            return to_state(value)
        return to_state(min(value, horizon))

    held: pa.Table | None = None
    last: Any = None
    for table in tables:
        if held is not None:
            table = pa.concat_tables([held, table])
            held = None
        column = table[cursor]
        top = pc.max(column)
        if not top.is_valid:  # only NULL cursors (they sort last): nothing to advance
            held = table
            continue
        split = pc.index(column, top).as_py()
        if split > 0:
            last = cursor_value(column[split - 1])
            yield table.slice(0, split), capped(last)
        held = table.slice(split)
    if held is not None:
        top = pc.max(held[cursor])
        if top.is_valid and cursor_value(top) != "infinity":
            last = cursor_value(top)
        yield held, capped(last)


def cursor_value(scalar: pa.Scalar) -> Any:
    """A cursor as Python: PostgreSQL's infinite dates and timestamps (out of Python's range) as the
    strings 'infinity' and '-infinity', which PostgreSQL reads back."""
    kind = scalar.type
    if pa.types.is_date32(kind) or pa.types.is_timestamp(kind):
        raw = scalar.cast(pa.int32() if pa.types.is_date32(kind) else pa.int64()).as_py()
        bound = 2**31 - 1 if pa.types.is_date32(kind) else 2**63 - 1
        if raw == bound:
            return "infinity"
        if raw == -bound:
            return "-infinity"
    return scalar.as_py()


def infinite_count(column: pa.ChunkedArray) -> int:
    """How many cursor values are +infinity (read again on every run, see `cursor_batches`)."""
    kind = column.type
    if not (pa.types.is_date32(kind) or pa.types.is_timestamp(kind)):
        return 0
    storage, bound = (pa.int32(), 2**31 - 1) if pa.types.is_date32(kind) else (pa.int64(), 2**63 - 1)
    return pc.sum(pc.equal(column.cast(storage), pa.scalar(bound, storage))).as_py() or 0


def to_state(value: Any) -> Any:
    """A cursor value as JSON that `_setting` and PostgreSQL read back exactly."""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _setting(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
