"""PostgreSQL as a destination (the warehouse), behind the same interface as DuckDB.

Each commit is ONE PostgreSQL transaction: every batch is bulk-loaded by ADBC's ingest (binary
COPY) into a temporary staging table, merged into its target on the primary key (DELETE USING,
then INSERT ... SELECT), and the state it advances is written to `_purelink.state` before the
COMMIT. A run killed at any instant leaves either all of a batch and its state or none of it.

    PostgresDestination("postgresql://etl@warehouse:5432/analytics", password="WAREHOUSE_PASSWORD",
                        schema="raw", airbyte_metadata=True)
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pyarrow as pa

from purelink.runtime import bookkeeping, pg
from purelink.runtime.arrow_batch import ArrowBatch, pg_type, warehouse_ready
from purelink.runtime.destinations.base import (
    META_AIRBYTE,
    META_PURELINK,
    Batch,
    Claim,
    Destination,
    SchemaChange,
    check_claims,
    text_keys,
    typed_table,
)
from purelink.runtime.destinations.duckdb_arrow import airbyte_meta
from purelink.runtime.destinations.pg_migrate import epoch_using, migrate
from purelink.runtime.destinations.pg_names import comment_names, shortened
from purelink.runtime.destinations.pg_sizes import PostgresSizes
from purelink.runtime.destinations.shaping import as_stored, exact_widening
from purelink.runtime.destinations.staged_refresh import PostgresStagedRefresh
from purelink.runtime.errors import DatabaseBusy, RuntimeFailure
from purelink.runtime.records import EXACT, widen

LOGICAL_PG = {"boolean": "boolean", "bigint": "bigint", "double": "double precision", "varchar": "text",
              "json": "jsonb", "timestamptz": "timestamptz", "null": "text"}
# format_type() spelling -> the lattice of records.py, to widen columns loaded from API records
PG_LOGICAL = {"boolean": "boolean", "bigint": "bigint", "double precision": "double", "text": "varchar",
              "jsonb": "json", "timestamp with time zone": "timestamptz"}
EXECUTION_TYPES = bookkeeping.column_types("executions", "postgres")
STAGE = "purelink_stage"
ROW_ID = "__purelink_row_id"


class PostgresDestination(PostgresStagedRefresh, PostgresSizes, Destination):
    """Loads into one schema of a PostgreSQL database (default `raw`), one table per stream."""

    def __init__(self, url: str, *, password: str | None = "WAREHOUSE_PASSWORD", schema: str = "raw",
                 airbyte_metadata: bool = False) -> None:
        self.url = url
        self.password = password
        self.schema = schema
        self.airbyte_metadata = airbyte_metadata
        self.con: Any = None
        self.cur: Any = None
        self._columns: dict[str, dict[str, str]] = {}
        self._staged: dict[str, dict[str, str]] = {}  # table -> column types of the rows being staged
        self._bytes = 0
        self._sizes: Any = None  # the heartbeat's own connection (see storage_bytes)
        self._sizes_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        self.con = pg.connect(self.url, password=self.password, role="warehouse")
        self.cur = self.con.cursor()
        try:
            for statement in bookkeeping.ddl("postgres"):
                self.cur.execute(statement)
            self._upgrade()
            self.con.commit()
        except pg.driver().Error as exc:
            self.con.rollback()
            raise RuntimeFailure(f"Cannot prepare the warehouse {self.location()}: {pg.first_line(exc)}",
                                 "The user needs CREATE on the database (for the _purelink and "
                                 f"{self.schema} schemas).") from None

    def _upgrade(self) -> None:
        """Add the bookkeeping columns a warehouse from an older version lacks."""
        found: dict[str, set[str]] = {}
        for table, column in pg.fetch(self.cur, "SELECT table_name, column_name FROM information_schema.columns "
                                                "WHERE table_schema = $1", [bookkeeping.SCHEMA]):
            found.setdefault(table, set()).add(column)
        for table in bookkeeping.TABLES:
            for statement in bookkeeping.upgrade("postgres", table, found.get(table, set())):
                self.cur.execute(statement)

    def close(self) -> None:
        with self._sizes_lock:
            if self.con is None:
                return
            try:
                self._bytes = self._measure()
            except pg.driver().Error:  # a size is nice to have; closing must not fail because of it
                self._bytes = 0
            for handle in filter(None, (self.cur, self.con, self._sizes)):
                handle.close()
            self.con = self.cur = self._sizes = None

    def location(self) -> str:
        return f"postgresql://{pg.describe(self.url)} (schema {self.schema})"

    # -- executions ------------------------------------------------------------------------
    def start_run(self, *, run_id: str, pipeline: str, recipe: str, version: int, mode: str) -> None:
        # A session lock per pipeline: two runs of one pipeline would interleave their states.
        locked = pg.fetch(self.cur, "SELECT pg_try_advisory_lock(hashtext($1))", [f"purelink:{pipeline}"])[0][0]
        if not locked:
            raise DatabaseBusy(f"The pipeline {pipeline} is already running against {self.location()}.",
                               "Wait for that run to finish (or stop it), then try again.")
        self.cur.execute("UPDATE _purelink.executions SET status = 'interrupted' "
                         "WHERE status = 'running' AND pipeline = $1", parameters=[pipeline])
        self.cur.execute(
            "INSERT INTO _purelink.executions (run_id, pipeline, recipe, version, mode, status, started_at, executor) "
            "VALUES ($1, $2, $3, CAST($4 AS integer), $5, 'running', CAST($6 AS timestamptz), $7)",
            parameters=[run_id, pipeline, recipe, version, mode, datetime.now(UTC), bookkeeping.executor()])
        self.con.commit()

    def finish_run(self, run_id: str, **fields: Any) -> None:
        if "streams" in fields:
            fields["streams"] = json.dumps(fields["streams"], default=str)
        fields["finished_at"] = datetime.now(UTC)
        fields = {k: v for k, v in fields.items() if k in EXECUTION_TYPES}
        sets = ", ".join(f"{pg.quote(k)} = CAST(${i} AS {EXECUTION_TYPES[k]})" for i, k in enumerate(fields, 1))
        self.con.rollback()  # nothing half-done from a failed commit may ride along
        self.cur.execute(f"UPDATE _purelink.executions SET {sets} WHERE run_id = ${len(fields) + 1}",
                         parameters=[*fields.values(), run_id])
        self.con.commit()

    # -- state -----------------------------------------------------------------------------
    def load_state(self, pipeline: str, stream: str) -> dict[str, Any]:
        rows = pg.fetch(self.cur, "SELECT key, value::text FROM _purelink.state WHERE pipeline = $1 AND stream = $2",
                        [pipeline, stream])
        self.con.commit()
        return {key: json.loads(value) for key, value in rows}

    def _write_state(self, pipeline: str, stream: str, state: dict[str, Any], run_id: str) -> None:
        now = datetime.now(UTC)
        for key, value in state.items():
            if value is None:
                self.cur.execute("DELETE FROM _purelink.state WHERE pipeline = $1 AND stream = $2 AND key = $3",
                                 parameters=[pipeline, stream, key])
                continue
            self.cur.execute(
                "INSERT INTO _purelink.state VALUES ($1, $2, $3, CAST($4 AS jsonb), $5, CAST($6 AS timestamptz)) "
                "ON CONFLICT (pipeline, stream, key) DO UPDATE SET value = EXCLUDED.value, "
                "run_id = EXCLUDED.run_id, updated_at = EXCLUDED.updated_at",
                parameters=[pipeline, stream, key, json.dumps(value, default=str), run_id, now])

    def reset_stream(self, pipeline: str, stream: str, schema: str, table: str) -> None:
        try:
            # The generation survives: the reload that follows is the next one.
            self.cur.execute("DELETE FROM _purelink.state WHERE pipeline = $1 AND stream = $2 "
                             "AND key <> 'generation'", parameters=[pipeline, stream])
            if self._table_columns(table):
                self.cur.execute(f"DELETE FROM {pg.qualified(self.schema, table)}")
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise

    def claim_tables(self, claims: list[Claim], run_id: str) -> list[Claim]:
        claims = [replace(c, schema=self.schema) for c in claims]  # this destination writes one schema
        try:
            rows = pg.fetch(self.cur, "SELECT table_name, pipeline, source, source_table FROM _purelink.tables "
                                      "WHERE schema_name = $1", [self.schema])
            owners = {(self.schema, r[0]): (r[1], r[2], r[3], r[0]) for r in rows}
            resolved, fresh = check_claims(claims, owners, fold_case=False)
            now = datetime.now(UTC)
            for c in fresh:
                self.cur.execute("INSERT INTO _purelink.tables VALUES ($1, $2, $3, $4, $5, $6, "
                                 "CAST($7 AS timestamptz)) ON CONFLICT DO NOTHING",
                                 parameters=[c.schema, c.table, c.pipeline, c.source, c.source_table, run_id, now])
            self.con.commit()
            return resolved
        except BaseException:
            self.con.rollback()
            raise

    # -- loading ---------------------------------------------------------------------------
    def commit(self, batches: Sequence[Batch], *, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        changes: list[SchemaChange] = []
        try:
            for batch in batches:
                batch, renamed = shortened(batch)  # names PostgreSQL would cut at 63 bytes
                before = set(self._table_columns(batch.table))  # (streamed Arrow finds long names as read)
                if isinstance(batch, ArrowBatch):
                    found = self._load_arrow(batch, run_id, extracted_at)
                elif batch.replaces:
                    found = self._swap_staged(batch)
                elif batch.rows:
                    found = self._load_rows(batch, run_id, extracted_at)
                else:
                    found = []
                for c in found:
                    self.cur.execute(
                        "INSERT INTO _purelink.schema_changes VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                        "CAST($9 AS timestamptz))",
                        parameters=[run_id, batch.pipeline, c.stream, c.table, c.column, c.change,
                                    c.old_type or "", c.new_type, extracted_at])
                changes.extend(found)
                if renamed:
                    # the columns this batch created: the others have their comment
                    comment_names(self.cur, self.schema, batch.table, renamed,
                                  set(self._table_columns(batch.table)) - before)
                if batch.dead_letters:
                    self._dead_letters(batch, run_id, extracted_at)
                if batch.state:
                    self._write_state(batch.pipeline, batch.stream, batch.state, run_id)
            self.con.commit()
        except BaseException as exc:
            self.con.rollback()
            self._columns.clear()  # DDL rolled back with the rest
            if isinstance(exc, pg.driver().Error):
                raise RuntimeFailure(f"Loading into {self.location()} failed: {pg.first_line(exc)}",
                                     "Nothing of this batch was written; fix the cause and run again.") from None
            raise
        return changes

    def _table_columns(self, table: str) -> dict[str, str]:
        if table not in self._columns:
            rows = pg.fetch(self.cur,
                            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                            "WHERE attrelid = to_regclass(format('%I.%I', $1::text, $2::text)) "
                            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", [self.schema, table])
            self._columns[table] = dict(rows)
        return self._columns[table]

    def _meta(self) -> dict[str, str]:
        meta = dict(META_PURELINK)
        if self.airbyte_metadata:
            meta.update(META_AIRBYTE)
        return {name: LOGICAL_PG[kind] for name, kind in meta.items()}

    def _true(self, sql: str) -> bool:
        self.cur.execute(sql)
        return bool(self.cur.fetchone()[0])

    def _declare(self, batch: Batch, types: dict[str, str], logical: dict[str, str] | None, *,
                 replacing: bool = False, data: pa.Table | None = None) -> list[SchemaChange]:
        """Create the target, add missing columns, widen API-record columns, migrate columns an
        earlier version mangled (`pg_migrate`); returns the changes."""
        target = pg.qualified(self.schema, batch.table)
        existing = self._table_columns(batch.table)
        wanted = {**types, **self._meta()}
        if not existing:
            self.cur.execute(f"CREATE SCHEMA IF NOT EXISTS {pg.quote(self.schema)}")
            cols = [f"{pg.quote(c)} {kind}" for c, kind in wanted.items()]
            if batch.primary_key:
                cols.append(f"PRIMARY KEY ({', '.join(pg.quote(k) for k in batch.primary_key)})")
            self.cur.execute(f"CREATE TABLE {target} ({', '.join(cols)})")
            self._columns.pop(batch.table, None)
            return []
        changes = []
        for column, kind in wanted.items():
            old = existing.get(column)
            if old is None:
                self.cur.execute(f"ALTER TABLE {target} ADD COLUMN {pg.quote(column)} {kind}")
                changes.append(SchemaChange(batch.stream, batch.table, column, "added", None, kind))
            elif logical is None and migrate(self.cur, target, column, old, kind, replacing=replacing):
                changes.append(SchemaChange(batch.stream, batch.table, column, "migrated", old, kind))
            elif logical and (using := epoch_using(column, old, kind, batch.times.get(column))):
                self.cur.execute(f"ALTER TABLE {target} ALTER COLUMN {pg.quote(column)} TYPE {kind} USING {using}")
                changes.append(SchemaChange(batch.stream, batch.table, column, "migrated", old, kind))
            elif logical and column in logical and old in PG_LOGICAL:
                beyond = f"SELECT EXISTS (SELECT FROM {target} WHERE {pg.quote(column)} NOT BETWEEN -{EXACT} AND {EXACT})"
                new = exact_widening(PG_LOGICAL[old], logical[column], widen(PG_LOGICAL[old], logical[column]),
                                     None if data is None else data.column(column), partial(self._true, beyond))
                if new != PG_LOGICAL[old] and logical[column] != "null":
                    kind = LOGICAL_PG[new]
                    using = f"to_jsonb({pg.quote(column)})" if kind == "jsonb" else f"{pg.quote(column)}::{kind}"
                    self.cur.execute(f"ALTER TABLE {target} ALTER COLUMN {pg.quote(column)} TYPE {kind} USING {using}")
                    changes.append(SchemaChange(batch.stream, batch.table, column, "widened", old, kind))
        self._columns.pop(batch.table, None)
        return changes

    def _load_rows(self, batch: Batch, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        """API records: the inferred lattice types, JSON and timestamps staged as text and cast."""
        stored = {c: PG_LOGICAL.get(k, "") for c, k in self._table_columns(batch.table).items()}
        table, logical = typed_table(batch.rows, run_id=run_id, extracted_at=extracted_at, times=batch.times,
                                     keys=text_keys(batch.primary_key, stored))
        meta = set(META_PURELINK)
        table = table.select([c for c in table.column_names if c not in meta])
        logical = {c: k for c, k in logical.items() if c not in meta}
        changes = self._declare(batch, {c: LOGICAL_PG[k] for c, k in logical.items()}, logical, data=table)
        stored = {c: PG_LOGICAL.get(k, "") for c, k in self._table_columns(batch.table).items()}
        table = as_stored(table, batch.rows, logical, stored)
        self._merge(batch, table, run_id=run_id, extracted_at=extracted_at)
        return changes

    def _load_arrow(self, batch: ArrowBatch, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        if batch.load == "stage":
            self._stage(batch)
            return []
        if batch.load == "swap":
            return self._swap(batch, run_id, extracted_at)
        changes: list[SchemaChange] = []
        first = True
        for data in batch.tables(exact_text=True):
            if first:
                changes = self._declare(batch, {f.name: pg_type(f) for f in data.schema}, None)
                first = False
            if data.num_rows:
                self._merge(batch, data, run_id=run_id, extracted_at=extracted_at)
        return changes

    def _stage_name(self, table: str) -> str:
        name = f"stage_{self.schema}_{table}"
        # PostgreSQL cuts identifiers at 63 bytes; a long name keeps a hash so two never collide.
        return name if len(name.encode()) <= 60 else name[:40] + "_" + hashlib.md5(name.encode()).hexdigest()[:12]

    def _stage(self, batch: ArrowBatch) -> None:
        """Append to `_purelink.stage_SCHEMA_TABLE` by COPY; committed per batch, swapped in at the end."""
        name = self._stage_name(batch.table)
        if batch.fresh:
            self.cur.execute(f"DROP TABLE IF EXISTS _purelink.{pg.quote(name)}")
        for data in batch.tables(exact_text=True):
            if batch.fresh:
                self._staged[batch.table] = {f.name: pg_type(f) for f in data.schema}
            self.cur.adbc_ingest(name, self._stage_ready(name, data), mode="create_append",
                                 db_schema_name="_purelink")

    def _stage_ready(self, name: str, data: pa.Table) -> pa.Table:
        """A batch whose dates or timestamps must travel as text (an infinity) turns that staging
        column into text (PostgreSQL's own rendering), and later batches send it as text too."""
        staged = dict(pg.fetch(self.cur, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                                         "WHERE attrelid = to_regclass(format('_purelink.%I', $1::text)) "
                                         "AND attnum > 0 AND NOT attisdropped", [name]))
        ready = warehouse_ready(data, text=[c for c, kind in staged.items() if kind == "text"])
        for before, after in zip(data.schema, ready.schema):
            if before.type != after.type and staged.get(before.name, "text") != "text":
                self.cur.execute(f"ALTER TABLE _purelink.{pg.quote(name)} ALTER COLUMN {pg.quote(before.name)} "
                                 f"TYPE text USING {pg.quote(before.name)}::text")
        return ready

    def _swap(self, batch: ArrowBatch, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        """The staged rows replace the table's in one transaction (DELETE + INSERT: the table itself,
        its grants and the views built on it stay; readers see old rows until the COMMIT)."""
        name = self._stage_name(batch.table)
        types = self._staged.get(batch.table) or dict(pg.fetch(
            self.cur, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                      "to_regclass(format('_purelink.%I', $1::text)) AND attnum > 0 AND NOT attisdropped "
                      "ORDER BY attnum", [name]))
        if not types:
            raise RuntimeFailure(f"Nothing was staged for {batch.stream}.", "Run the pipeline again.")
        changes = self._declare(batch, types, None, replacing=True)
        self.cur.execute(f"DELETE FROM {pg.qualified(self.schema, batch.table)}")
        self._insert(batch, f"_purelink.{pg.quote(name)}", list(types), run_id, extracted_at)
        self.cur.execute(f"DROP TABLE _purelink.{pg.quote(name)}")
        self._staged.pop(batch.table, None)
        return changes

    def _merge(self, batch: Batch, data: pa.Table, *, run_id: str, extracted_at: datetime) -> None:
        # Temporary and per transaction: a crash leaves nothing behind, and COPY needs no cast.
        self.cur.adbc_ingest(STAGE, warehouse_ready(data), mode="replace", temporary=True)
        columns = self._table_columns(batch.table)
        if batch.primary_key:
            match = " AND ".join(f"t.{pg.quote(k)} = CAST(s.{pg.quote(k)} AS {columns[k]})" for k in batch.primary_key)
            self.cur.execute(f"DELETE FROM {pg.qualified(self.schema, batch.table)} t "
                             f"USING pg_temp.{STAGE} s WHERE {match}")
        self._insert(batch, f"pg_temp.{STAGE}", data.column_names, run_id, extracted_at)

    def _insert(self, batch: Batch, source: str, names: list[str], run_id: str, extracted_at: datetime) -> None:
        """INSERT ... SELECT from a staging relation, cast to the table's types, metadata added."""
        columns = self._table_columns(batch.table)
        targets = [pg.quote(c) for c in names]
        values = [f"CAST(s.{pg.quote(c)} AS {columns[c]})" for c in names]
        params: list = []
        for name, kind in self._meta().items():
            targets.append(pg.quote(name))
            if name in ("_airbyte_raw_id", "_airbyte_ab_id"):
                values.append(pg.quote(ROW_ID))  # one fresh UUID per row, the same in both columns
                continue
            params.append(run_id if name == "_purelink_run_id" else
                          airbyte_meta(run_id) if name == "_airbyte_meta" else
                          batch.generation if name == "_airbyte_generation_id" else extracted_at)
            values.append(f"CAST(${len(params)} AS {kind})")
        relation = f"(SELECT *, gen_random_uuid()::text AS {pg.quote(ROW_ID)} FROM {source}) s" \
            if self.airbyte_metadata else f"{source} s"
        self.cur.execute(f"INSERT INTO {pg.qualified(self.schema, batch.table)} ({', '.join(targets)}) "
                         f"SELECT {', '.join(values)} FROM {relation}", parameters=params)

    def _dead_letters(self, batch: Batch, run_id: str, at: datetime) -> None:
        letters = pa.table({"reason": [r for r, _ in batch.dead_letters],
                            "record": [json.dumps(rec, default=str) for _, rec in batch.dead_letters]})
        self.cur.adbc_ingest("purelink_dead", letters, mode="replace", temporary=True)
        self.cur.execute("INSERT INTO _purelink.dead_letters SELECT $1, $2, $3, reason, record::jsonb, "
                         "CAST($4 AS timestamptz) FROM pg_temp.purelink_dead",
                         parameters=[run_id, batch.pipeline, batch.stream, at])
