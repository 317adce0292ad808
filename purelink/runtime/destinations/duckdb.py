"""DuckDB as a destination: bulk Arrow inserts, merge on primary key, state in the same transaction."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from purelink.runtime import bookkeeping
from purelink.runtime.destinations.base import (
    Batch,
    Claim,
    Destination,
    SchemaChange,
    check_claims,
    text_keys,
    typed_table,
)
from purelink.runtime.destinations.duckdb_connection import (
    MEMORY_LIMIT,
    RECYCLE_LOG_BYTES,
    LogWatch,
    compact,
    connect,
    limit_memory,
    prepare,
    unlimit_memory,
)
from purelink.runtime.destinations.shaping import (
    as_stored,
    coalesce,
    epoch_using,
    exact_widening,
    fold_case,
    quote,
    refresh_changes,
    widening_cast,
)
from purelink.runtime.destinations.staged_refresh import DuckDBStagedRefresh
from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.records import EXACT, widen

SQL_TYPES = {"boolean": "BOOLEAN", "bigint": "BIGINT", "double": "DOUBLE", "varchar": "VARCHAR",
             "json": "JSON", "timestamptz": "TIMESTAMPTZ", "null": "VARCHAR"}
LOGICAL = {v: k for k, v in SQL_TYPES.items() if k != "null"}
LOGICAL["TIMESTAMP WITH TIME ZONE"] = "timestamptz"  # how duckdb_columns() spells it

class DuckDBDestination(DuckDBStagedRefresh, Destination):
    """Loads into a DuckDB file; one schema per source, one table per stream.

    Tables are always named catalog.schema.table: a file called `stripe.duckdb` is the catalog
    `stripe`, and `stripe.customers` would be ambiguous between it and the schema `stripe`.
    DuckDB does not tell `MixedCase` from `mixedcase`, so owners are compared case-folded.
    """

    fold_case = True

    def __init__(self, path: str | os.PathLike, *, airbyte_metadata: bool = False,
                 token: str | None = None, memory_limit: str | None = MEMORY_LIMIT) -> None:
        self.path = Path(path)
        self.memory_limit = memory_limit  # DuckDB's buffer pool while loading (duckdb_connection.py)
        self.remote = str(path).startswith("md:")  # MotherDuck: `token` names the secret holding its token
        self.token = token
        self.airbyte_metadata = airbyte_metadata
        self._con: duckdb.DuckDBPyConnection | None = None
        self._columns: dict[tuple[str, str], dict[str, str]] = {}
        self.catalog = ""
        self._refreshed: dict[tuple[str, str], dict[str, str]] = {}  # columns before a full refresh
        self._kept: set[tuple[str, str, str]] = set()  # columns no longer loaded, already recorded
        self._unlimited = False  # the memory limit lifted after a commit that did not fit
        self._log = LogWatch(self.path)  # when to reopen, to give back memory (between_commits)
        self._setting_failed = False  # open() failed on a setting (the memory limit), not on the file
        self._reopened = False  # a run that wrote enough to be reopened: too large to compact at its close

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        if not self.remote:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = connect(self.path, token=self.token)
        self._log = LogWatch(self.path)
        if not self.remote and self.memory_limit and not self._unlimited:
            try:
                limit_memory(self.con, self.path, self.memory_limit)
            except (RuntimeFailure, duckdb.Error):
                self._setting_failed = True  # the file opened: the run's failure can still be recorded
                self.close()
                raise
        prepare(self.con)
        self.catalog = self._one("SELECT current_database()")

    def previous_records(self, pipeline: str, mode: str) -> int | None:
        found = None if mode != "full_refresh" else self._one(
            "SELECT records FROM _purelink.executions WHERE pipeline = ? AND status = 'success' AND records > 0 "
            "AND (mode = 'full_refresh' OR started_at = (SELECT min(started_at) FROM _purelink.executions "
            "WHERE pipeline = ?)) ORDER BY started_at DESC LIMIT 1", [pipeline, pipeline])
        return int(found) if found is not None else None

    def record_failed_open(self, run_id: str, finished: dict, **run: Any) -> None:
        if not self._setting_failed:
            return  # the file itself did not open (busy, unreadable): nowhere to write the row
        self.memory_limit = None
        try:
            self.open()
            self.start_run(run_id=run_id, **run)
            self.record_finished(run_id, finished)
        finally:
            self.close()

    def between_commits(self) -> None:
        """Give back what DuckDB's checkpoints kept: close and reopen (see duckdb_connection.LogWatch)."""
        if self._con is not None and not self.remote and self._log.due():
            self._con.close()  # no compact(): its vacuum is what the loading loop must not pay for
            self._con = None
            self._reopened = True
            self.open()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The open connection; every method after `open()` uses it."""
        if self._con is None:
            raise RuntimeFailure(f"The DuckDB destination {self.path} is used before it was opened (or after close).",
                                 "This is a bug in Purelink: please report it with the run's event log.")
        return self._con

    def _one(self, sql: str, params: list | None = None) -> Any:
        """The first column of the first row of `sql` (None when it returns no row)."""
        row = self.con.execute(sql, params or []).fetchone()
        return row[0] if row else None

    def target(self, schema: str, table: str) -> str:
        """The table's fully qualified, quoted name."""
        return f"{quote(self.catalog)}.{quote(schema)}.{quote(table)}"

    def close(self) -> None:
        """Close; a run that wrote little is compacted first (duckdb_connection.compact says why and
        when): merging what a large run wrote would cost its size in memory and time."""
        if self._con is not None:
            con, self._con = self._con, None
            try:
                if not self.remote and not self._reopened and self._log.size() < RECYCLE_LOG_BYTES:
                    compact(con)
            finally:
                con.close()

    def location(self) -> str:
        return str(self.path)

    def storage_bytes(self) -> int:
        total = 0
        for suffix in ("", ".wal"):
            try:
                total += os.path.getsize(str(self.path) + suffix)
            except OSError:
                pass
        return total

    # -- executions ------------------------------------------------------------------------
    def start_run(self, *, run_id, pipeline, recipe, version, mode) -> None:
        # Only one writer can hold the file, so any row still "running" belongs to a run that died.
        self.con.execute("UPDATE _purelink.executions SET status = 'interrupted' "
                         "WHERE status = 'running' AND pipeline = ?", [pipeline])
        self.con.execute(
            "INSERT INTO _purelink.executions (run_id, pipeline, recipe, version, mode, status, started_at, executor) "
            "VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
            [run_id, pipeline, recipe, version, mode, datetime.now(UTC), bookkeeping.executor()])

    def finish_run(self, run_id: str, **fields: Any) -> None:
        if "streams" in fields:
            fields["streams"] = json.dumps(fields["streams"])
        fields["finished_at"] = datetime.now(UTC)
        assignments = ", ".join(f"{quote(k)} = ?" for k in fields)
        self.con.execute(f"UPDATE _purelink.executions SET {assignments} WHERE run_id = ?",
                         [*fields.values(), run_id])

    # -- state -----------------------------------------------------------------------------
    def load_state(self, pipeline: str, stream: str) -> dict[str, Any]:
        rows = self.con.execute("SELECT key, value FROM _purelink.state WHERE pipeline = ? AND stream = ?",
                                [pipeline, stream]).fetchall()
        return {key: json.loads(value) for key, value in rows}

    def _write_state(self, pipeline: str, stream: str, state: dict[str, Any], run_id: str) -> None:
        """All keys in two statements, whatever their number."""
        if not state:
            return
        now = datetime.now(UTC)
        self.con.execute("DELETE FROM _purelink.state WHERE pipeline = ? AND stream = ? "
                         "AND list_contains(?, key)", [pipeline, stream, list(state)])
        kept = [(k, json.dumps(v)) for k, v in state.items() if v is not None]
        if kept:
            rows = pa.table({"key": [k for k, _ in kept], "value": [v for _, v in kept]})
            self.con.register("purelink_state", rows)
            try:
                self.con.execute("INSERT INTO _purelink.state SELECT ?, ?, key, CAST(value AS JSON), ?, ? "
                                 "FROM purelink_state", [pipeline, stream, run_id, now])
            finally:
                self.con.unregister("purelink_state")

    def reset_stream(self, pipeline: str, stream: str, schema: str, table: str) -> None:
        self.con.execute("BEGIN")
        try:
            # The generation survives: the reload that follows is the next one.
            self.con.execute("DELETE FROM _purelink.state WHERE pipeline = ? AND stream = ? "
                             "AND key <> 'generation'", [pipeline, stream])
            old = self._table_columns(schema, table)
            if old:
                # A full refresh rebuilds the table, so columns the recipe no longer selects go
                # (recorded as "dropped") instead of staying behind all NULL.
                self.con.execute(f"DROP TABLE {self.target(schema, table)}")
                self._refreshed[(schema, table)] = dict(old)
                self._columns.pop((schema, table), None)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def claim_tables(self, claims: list[Claim], run_id: str) -> list[Claim]:
        rows = self.con.execute("SELECT lower(schema_name), lower(table_name), pipeline, source, source_table, "
                                "table_name FROM _purelink.tables").fetchall()
        owners = {(r[0], r[1]): (r[2], r[3], r[4], r[5]) for r in rows}
        # A table that exists with another case but no recorded owner (loaded by an older version or
        # by hand) still collides in DuckDB.
        for schema, table in self.con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?", [self.catalog]).fetchall():
            owners.setdefault((schema.lower(), table.lower()), ("unknown", "an existing table", "", table))
        for claim in claims:
            found = owners.get((claim.schema.lower(), claim.table.lower()))
            if found and found[0] == "unknown" and found[3] == claim.table:
                owners.pop((claim.schema.lower(), claim.table.lower()))  # same name: adopted below
        resolved, fresh = check_claims(claims, owners, fold_case=True)
        now = datetime.now(UTC)
        for c in fresh:
            self.con.execute("INSERT INTO _purelink.tables VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [c.schema, c.table, c.pipeline, c.source, c.source_table, run_id, now])
        return resolved

    # -- loading ---------------------------------------------------------------------------
    def _table_columns(self, schema: str, table: str) -> dict[str, str]:
        key = (schema, table)
        if key not in self._columns:
            rows = self.con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index",
                [self.catalog, schema, table]).fetchall()
            self._columns[key] = {name: LOGICAL.get(kind, "varchar") for name, kind in rows}
        return self._columns[key]

    def _evolve(self, batch: Batch, types: dict[str, str], data: pa.Table) -> list[SchemaChange]:
        """Create the table, add new columns, widen changed ones; returns what changed."""
        s, t = batch.schema, batch.table
        target = self.target(s, t)
        existing = self._table_columns(s, t)
        stored = {c: ("varchar" if k == "null" else k) for c, k in types.items()}
        if not existing:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.catalog)}.{quote(s)}")
            cols = ", ".join(f"{quote(c)} {SQL_TYPES[k]}" for c, k in stored.items())
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {target} ({cols})")
            self._columns[(s, t)] = stored
            return refresh_changes(batch, stored, self._refreshed.pop((s, t), {}), SQL_TYPES)
        changes = []
        for column, kind in types.items():
            old = existing.get(column)
            if old is None:
                self.con.execute(f"ALTER TABLE {target} ADD COLUMN {quote(column)} {SQL_TYPES[kind]}")
                existing[column] = stored[column]
                changes.append(SchemaChange(batch.stream, t, column, "added", None, SQL_TYPES[kind]))
                continue
            if (using := epoch_using(batch, column, old, kind)) is not None:
                self.con.execute(f"ALTER TABLE {target} ALTER COLUMN {quote(column)} SET DATA TYPE TIMESTAMPTZ{using}")
                existing[column] = kind
                changes.append(SchemaChange(batch.stream, t, column, "migrated", "BIGINT", "TIMESTAMPTZ"))
                continue
            if kind in (old, "null"):
                continue
            beyond = f"SELECT count(*) > 0 FROM {target} WHERE {quote(column)} NOT BETWEEN -{EXACT} AND {EXACT}"
            new = exact_widening(old, kind, widen(old, kind), data.column(column), partial(self._any, beyond))
            if new == old:
                continue
            first_values = old == "varchar" and self._all_null(target, column)
            if first_values:
                new = kind  # a column that held only nulls gets its type now: not a widening
            using = widening_cast(column, old, new) if not first_values else ""
            self.con.execute(f"ALTER TABLE {target} ALTER COLUMN {quote(column)} "
                             f"SET DATA TYPE {SQL_TYPES[new]}{using}")
            existing[column] = new
            if not first_values:
                changes.append(SchemaChange(batch.stream, t, column, "widened", SQL_TYPES[old], SQL_TYPES[new]))
        return changes

    def _any(self, sql: str) -> bool:
        return bool(self._one(sql))

    def _all_null(self, target: str, column: str) -> bool:
        return bool(self._one(f"SELECT count({quote(column)}) = 0 FROM {target}"))

    def _insert(self, batch: Batch, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        stored = self._table_columns(batch.schema, batch.table)
        batch.rows = fold_case(batch.rows, stored)
        table, types = typed_table(batch.rows, run_id=run_id, extracted_at=extracted_at,
                                   airbyte=self.airbyte_metadata, generation=batch.generation, times=batch.times,
                                   keys=text_keys(batch.primary_key, stored))
        changes = self._evolve(batch, types, table)
        columns = self._table_columns(batch.schema, batch.table)
        table = as_stored(table, batch.rows, types, columns)
        target = self.target(batch.schema, batch.table)
        # Columns of the table this batch does not carry (the recipe selects fewer now): a merged
        # row keeps its old values there instead of turning NULL.
        kept = [c for c in columns if c not in types] if batch.primary_key and batch.selected else []
        self.con.register("purelink_batch", table)
        try:
            values = [f"CAST(b.{quote(c)} AS {SQL_TYPES[columns[c]]})" for c in types]
            source = "purelink_batch b"
            if kept:
                keys = ", ".join(quote(k) for k in batch.primary_key)
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE purelink_kept AS SELECT {keys}, "
                                 f"{', '.join(quote(c) for c in kept)} FROM {target} "
                                 f"SEMI JOIN purelink_batch USING ({keys})")
                source += f" LEFT JOIN purelink_kept k USING ({keys})"
                values += [f"k.{quote(c)}" for c in kept]
                changes += self._note_kept(batch, kept)
            if batch.primary_key:
                match = " AND ".join(f"t.{quote(k)} = b.{quote(k)}" for k in batch.primary_key)
                self.con.execute(f"DELETE FROM {target} AS t USING purelink_batch b WHERE {match}")
            names = ", ".join(quote(c) for c in [*types, *kept])
            self.con.execute(f"INSERT INTO {target} ({names}) SELECT {', '.join(values)} FROM {source}")
        finally:
            # in an aborted transaction this fails too, and would hide the error that matters
            with contextlib.suppress(duckdb.Error):
                self.con.unregister("purelink_batch")
        return changes

    def _note_kept(self, batch: Batch, kept: list[str]) -> list[SchemaChange]:
        """Each column no longer loaded, recorded once per run (and per table)."""
        new = [c for c in kept if (batch.schema, batch.table, c) not in self._kept
               and not c.startswith(("_purelink_", "_airbyte_"))]
        self._kept.update((batch.schema, batch.table, c) for c in kept)
        columns = self._table_columns(batch.schema, batch.table)
        return [SchemaChange(batch.stream, batch.table, c, "kept", SQL_TYPES[columns[c]], None) for c in new]

    def commit(self, batches: Sequence[Batch], *, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        try:
            return self._commit(batches, run_id=run_id, extracted_at=extracted_at)
        except duckdb.OutOfMemoryException as exc:  # rolled back: the same transaction again, unbounded
            if self.remote or self._unlimited:
                raise
            self._unlimited = True
            unlimit_memory(self.con, exc)
            return self._commit(batches, run_id=run_id, extracted_at=extracted_at)

    def _commit(self, batches: Sequence[Batch], *, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        changes: list[SchemaChange] = []
        self.con.execute("BEGIN")
        try:
            for batch in coalesce(batches):
                batch_changes = self._load_batch(batch, run_id, extracted_at)
                for c in batch_changes:
                    self.con.execute(
                        "INSERT INTO _purelink.schema_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [run_id, batch.pipeline, c.stream, c.table, c.column, c.change, c.old_type,
                         c.new_type, extracted_at])
                changes.extend(batch_changes)
            states: dict[tuple[str, str], dict[str, Any]] = {}
            for batch in batches:
                if batch.dead_letters:
                    self._dead_letters(batch, run_id, extracted_at)
                states.setdefault((batch.pipeline, batch.stream), {}).update(batch.state)
            for (pipeline, stream), state in states.items():
                self._write_state(pipeline, stream, state, run_id)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            self._columns.clear()  # DDL rolled back with the rest
            raise
        return changes

    def _load_batch(self, batch: Batch, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        """Write one (coalesced) batch's rows; subclasses load other kinds of batch."""
        if batch.replaces:
            return self._swap_staged(batch)
        return self._insert(batch, run_id, extracted_at) if batch.rows else []

    def _dead_letters(self, batch: Batch, run_id: str, at: datetime) -> None:
        reasons = [r for r, _ in batch.dead_letters]
        records = [json.dumps(rec, default=str) for _, rec in batch.dead_letters]
        letters = pa.table({"reason": reasons, "record": records})
        self.con.register("purelink_dead", letters)
        try:
            self.con.execute(
                "INSERT INTO _purelink.dead_letters SELECT ?, ?, ?, reason, CAST(record AS JSON), ? "
                "FROM purelink_dead", [run_id, batch.pipeline, batch.stream, at])
        finally:
            self.con.unregister("purelink_dead")
