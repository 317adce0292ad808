"""DuckDB for SQL sources: Arrow batches loaded with the types the source declared.

`DuckDBDestination` infers a small type lattice from API records. Rows read from a database
need no inference: DuckDB reads the Arrow batch as it is (DECIMAL(p,s), INTERVAL, UUID, JSON,
lists, BLOB), and the table is declared from it. Everything else (executions, state, dead
letters, one transaction per commit) is the parent's.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from purelink.runtime.arrow_batch import (
    MAX_DECIMAL_PRECISION,
    ArrowBatch,
    duckdb_casts,
    pg_typename,
    stage_name,
)
from purelink.runtime.bookkeeping import META_TIMES
from purelink.runtime.destinations.base import META_AIRBYTE, META_PURELINK, Batch, SchemaChange
from purelink.runtime.destinations.duckdb import DuckDBDestination, quote
from purelink.runtime.destinations.duckdb_connection import MEMORY_LIMIT
from purelink.runtime.destinations.duckdb_legacy import repair
from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.pg_types import WAREHOUSE

META_DUCKDB = {"varchar": "VARCHAR", "timestamptz": "TIMESTAMPTZ", "json": "JSON", "bigint": "BIGINT"}
ROW_ID = "__purelink_row_id"


def airbyte_meta(run_id: str) -> str:
    return json.dumps({"changes": [], "sync_id": run_id}, separators=(",", ":"))


class DuckDBArrowDestination(DuckDBDestination):
    """Loads `ArrowBatch`es (and plain batches, as its parent does) into a DuckDB file."""

    def __init__(self, path: str | Path, *, airbyte_metadata: bool = False,
                 memory_limit: str | None = MEMORY_LIMIT, token: str | None = None) -> None:
        super().__init__(path, airbyte_metadata=airbyte_metadata, token=token, memory_limit=memory_limit)
        # the schema of the batch registered as purelink_arrow (none registered yet: no columns)
        self._arrow_schema = pa.schema([])

    def _load_batch(self, batch: Batch, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        if isinstance(batch, ArrowBatch):
            return self._load(batch, run_id, extracted_at)
        return super()._load_batch(batch, run_id, extracted_at)

    def _meta(self) -> dict[str, str]:
        meta = dict(META_PURELINK)
        if self.airbyte_metadata:
            meta.update(META_AIRBYTE)
        return {name: META_DUCKDB[kind] for name, kind in meta.items()}

    def _duck_columns(self, schema: str, table: str) -> dict[str, str]:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index",
            [self.catalog, schema, table]).fetchall()
        return dict(rows)

    def _declare(self, batch: ArrowBatch, target: str) -> list[SchemaChange]:
        """Create the table from the registered Arrow batch, or add the columns it lacks."""
        existing = self._duck_columns(batch.schema, batch.table)
        meta = self._meta()
        if not existing:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.catalog)}.{quote(batch.schema)}")
            extra = "".join(f", CAST(NULL AS {kind}) AS {quote(name)}" for name, kind in meta.items())
            self.con.execute(f"CREATE TABLE {target} AS SELECT {_typed(self._arrow_schema)}{extra} "
                             "FROM purelink_arrow LIMIT 0")
            self._columns.pop((batch.schema, batch.table), None)
            return []
        incoming = dict(self.con.execute("SELECT column_name, column_type FROM "
                                         f"(DESCRIBE SELECT {_typed(self._arrow_schema)} FROM purelink_arrow)").fetchall())
        incoming.update(meta)
        # the type the source declared (money is read as numeric, so the driver's own name says numeric)
        pg_types = {f.name: ((f.metadata or {}).get(WAREHOUSE) or b"").decode() or pg_typename(f)
                    for f in self._arrow_schema}
        changes = []
        for column, kind in incoming.items():
            if column not in existing:
                self.con.execute(f"ALTER TABLE {target} ADD COLUMN {quote(column)} {kind}")
                changes.append(SchemaChange(batch.stream, batch.table, column, "added", None, kind))
            elif existing[column] == "BLOB" and kind != "BLOB":
                raise _stale_bytes(column, target, kind)
            elif batch.load == "merge" and (legacy := repair(self.con, target, column, existing[column], kind,
                                                             pg_types.get(column))):
                changes.append(SchemaChange(batch.stream, batch.table, column, "migrated", *legacy))
            elif (wider := self._widen_decimal(target, column, existing[column], kind)) is not None:
                changes.append(SchemaChange(batch.stream, batch.table, column, "widened", existing[column], wider))
            elif self._migrate(target, column, existing[column], kind, pg_types.get(column)):
                changes.append(SchemaChange(batch.stream, batch.table, column, "migrated", existing[column], kind))
        self._columns.pop((batch.schema, batch.table), None)
        return changes

    def _migrate(self, target: str, column: str, old: str, new: str, pg_type: str | None) -> bool:
        """Convert a column an earlier version mangled: money as integer cents, numbers as text
        (numeric without precision). Only when every stored value converts: a text column that a
        run with oversized numerals made on purpose stays text."""
        q = quote(column)
        if old in ("BIGINT", "INTEGER") and pg_type == "money" and new.startswith("DECIMAL"):
            using = f"CAST(CAST({q} AS DECIMAL(38,2)) * 0.01 AS {new})"
        elif old == "VARCHAR" and new.startswith("DECIMAL"):
            using = f"TRY_CAST({q} AS {new})"
        else:
            return False
        # TRY_CAST: a failed ALTER would abort the commit's transaction
        fits = self.con.execute(f"SELECT count(*) FILTER (WHERE {q} IS NOT NULL AND TRY_CAST({using} AS {new}) "
                                f"IS NULL) = 0 FROM {target}").fetchall()[0][0]
        if fits:
            self.con.execute(f"ALTER TABLE {target} ALTER COLUMN {q} TYPE {new} USING {using}")
        return bool(fits)

    def _widen_decimal(self, target: str, column: str, old: str, new: str) -> str | None:
        """A DECIMAL column that now meets a wider scale or more digits (numeric without precision
        is sized from the values of each run) is widened, or becomes exact text: inserting as it is
        would round silently."""
        for wider in widened_decimal(old, new):
            # TRY_CAST: a failed ALTER would abort the commit's transaction
            fits = self.con.execute(f"SELECT count(*) FILTER (WHERE {quote(column)} IS NOT NULL AND "
                                    f"TRY_CAST({quote(column)} AS {wider}) IS NULL) = 0 FROM {target}").fetchall()[0][0]
            if fits:
                self.con.execute(f"ALTER TABLE {target} ALTER COLUMN {quote(column)} TYPE {wider}")
                return wider
        return None

    def _load(self, batch: ArrowBatch, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        if batch.load == "swap":
            return self._swap(batch)
        name = stage_name(batch.table) if batch.load == "stage" else batch.table
        target = self.target(batch.schema, name)
        if batch.load == "stage" and batch.fresh:
            self.con.execute(f"DROP TABLE IF EXISTS {target}")
        into = replace(batch, table=name)
        changes: list[SchemaChange] = []
        first = True
        for data in batch.tables():
            self.con.register("purelink_arrow", data)
            self._arrow_schema = data.schema
            try:
                if first:
                    changes = self._declare(into, target)
                    first = False
                if not data.num_rows:
                    continue
                if batch.primary_key and batch.load == "merge":
                    match = " AND ".join(f"t.{quote(k)} = b.{quote(k)}" for k in batch.primary_key)
                    self.con.execute(f"DELETE FROM {target} AS t USING purelink_arrow b WHERE {match}")
                self._append(target, data.column_names, run_id, extracted_at, batch.generation)
            finally:
                self.con.unregister("purelink_arrow")
        return [] if batch.load == "stage" else changes

    def _swap(self, batch: ArrowBatch) -> list[SchemaChange]:
        """The staged rows become the table: a rename, so no row is copied and readers never see a mix."""
        staged = self._duck_columns(batch.schema, stage_name(batch.table))
        if not staged:
            raise RuntimeFailure(f"Nothing was staged for {batch.stream}.", "Run the pipeline again.")
        old = self._duck_columns(batch.schema, batch.table)
        target = self.target(batch.schema, batch.table)
        self.con.execute(f"DROP TABLE IF EXISTS {target}")
        self.con.execute(f"ALTER TABLE {self.target(batch.schema, stage_name(batch.table))} "
                         f"RENAME TO {quote(batch.table)}")
        self._columns.pop((batch.schema, batch.table), None)
        if not old:
            return []
        return [SchemaChange(batch.stream, batch.table, c, "added", None, kind)
                for c, kind in staged.items() if c not in old] + \
            [SchemaChange(batch.stream, batch.table, c, "dropped", kind, None)
             for c, kind in old.items() if c not in staged]

    def _append(self, target: str, columns: list[str], run_id: str, extracted_at: datetime,
                generation: int) -> None:
        names = [quote(c) for c in columns]
        casts = duckdb_casts(self._arrow_schema)
        values = [f"CAST({quote(c)} AS {casts[c]})" if c in casts else quote(c) for c in columns]
        params: list = []
        for name in self._meta():
            names.append(quote(name))
            if name == "_purelink_run_id":
                values.append("CAST(? AS VARCHAR)")
                params.append(run_id)
            elif name in META_TIMES:
                values.append("CAST(? AS TIMESTAMPTZ)")
                params.append(extracted_at)
            elif name in ("_airbyte_raw_id", "_airbyte_ab_id"):
                values.append(quote(ROW_ID))  # one fresh UUID per row, the same in both columns
            elif name == "_airbyte_generation_id":
                values.append("CAST(? AS BIGINT)")
                params.append(generation)
            elif name == "_airbyte_meta":
                values.append("CAST(? AS JSON)")
                params.append(airbyte_meta(run_id))
        source = "purelink_arrow"
        if self.airbyte_metadata:
            source = f"(SELECT *, CAST(uuid() AS VARCHAR) AS {quote(ROW_ID)} FROM purelink_arrow)"
        self.con.execute(f"INSERT INTO {target} ({', '.join(names)}) SELECT {', '.join(values)} FROM {source}",
                         params)


def _stale_bytes(column: str, target: str, kind: str) -> RuntimeFailure:
    """An earlier version loaded types such as inet or timetz as PostgreSQL's wire bytes (BLOB):
    appending their text to those bytes would mix two forms in one column."""
    return RuntimeFailure(f"Column {column} of {target} holds PostgreSQL wire bytes from an earlier load; "
                          f"its values now arrive as {kind}.",
                          f"Drop the table (DROP TABLE {target}) and run again: it is reloaded with readable types.")


def _decimal(kind: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", kind.replace(" ", ""))
    return (int(match[1]), int(match[2])) if match else None


def widened_decimal(old: str, new: str) -> list[str]:
    """DuckDB types to try, in order, for a DECIMAL column `old` receiving `new` values; [] when
    the column holds them as it is."""
    was, comes = _decimal(old), _decimal(new)
    if was is None or new == old:
        return []
    if comes is None:
        return ["VARCHAR"] if new == "VARCHAR" else []
    if comes[1] <= was[1]:
        return []  # no digit after the point is lost; too many before it fails the insert loudly
    digits = max(was[0] - was[1], comes[0] - comes[1])
    return [f"DECIMAL({min(MAX_DECIMAL_PRECISION, digits + comes[1])},{comes[1]})", "VARCHAR"]


def _typed(schema) -> str:
    """The registered batch's columns, cast where the source asked for a DuckDB type (timetz, bit)."""
    casts = duckdb_casts(schema)
    return ", ".join(f"CAST({quote(c)} AS {casts[c]}) AS {quote(c)}" if c in casts else quote(c)
                     for c in schema.names)


PANDAS_TEXT = {"TIME WITH TIME ZONE", "BIT"}  # pandas has no such type: DuckDB refuses to convert
INFINITE = {"DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"}


def dataframe_select(con, schema: str, table: str) -> str:
    """The SELECT list that reads a loaded table into pandas without failing: timetz and bit
    columns, and date or timestamp columns holding an infinity, come as their text form."""
    columns = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? "
                          "AND table_name = ? ORDER BY column_index", [schema, table]).fetchall()
    temporal = [c for c, kind in columns if kind in INFINITE]
    infinite: set[str] = set()
    if temporal:
        flags = con.execute(f"SELECT {', '.join(f'bool_or(NOT isfinite({quote(c)}))' for c in temporal)} "
                            f"FROM {quote(schema)}.{quote(table)}").fetchall()[0]
        infinite = {c for c, flag in zip(temporal, flags) if flag}
    return ", ".join(f"CAST({quote(c)} AS VARCHAR) AS {quote(c)}" if kind in PANDAS_TEXT or c in infinite
                     else quote(c) for c, kind in columns)
