"""Apache Iceberg tables as a destination, through pyiceberg and a SQL catalog (SQLite beside the
files, or a PostgreSQL database), with data files on local disk or an S3-compatible store.

Rows and state in one commit: a stream's state lives in its table's properties
(`purelink.state.<pipeline>.<stream>`), set in the same Iceberg transaction that upserts the rows,
so a snapshot either holds both or neither. Two things are written outside that transaction, in an
order that makes a kill harmless: schema changes (new columns) are committed first, and a table a
stream writes for the first time is recorded in `_purelink.state`'s properties before its first
rows; a kill after either one only leaves an empty column or a pointer to a table without rows.
A whole-table reload written in several Arrow batches commits each as it comes (with a primary
key they merge, so a re-run after a kill re-applies them without doubling) and the state goes
with the last one.

The bookkeeping tables (`_purelink.executions`, dead_letters, schema_changes, tables) are Iceberg
tables in namespace `_purelink`; dead letters and schema changes are appended right after the
commit that loaded their batch (Iceberg commits one table at a time), so a kill between the two
can lose those notes, never a row or the state. Merges use pyiceberg's `upsert` on the primary key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pyarrow as pa

from purelink.runtime import bookkeeping
from purelink.runtime.arrow_batch import ArrowBatch, stage_name
from purelink.runtime.destinations.base import Batch, Claim, Destination, SchemaChange, check_claims
from purelink.runtime.destinations.columnar import BOOKKEEPING as COLUMNS
from purelink.runtime.destinations.columnar import TEXT, conform, rest_table, storable, with_meta
from purelink.runtime.destinations.shaping import coalesce
from purelink.runtime.errors import RuntimeFailure

INTERNAL = "_purelink"
# Iceberg keeps each stream's state in its table's properties, committed with the rows; the
# `state` table only holds properties for streams that have no table yet.
BOOKKEEPING = {**COLUMNS, "state": {"pipeline": TEXT}}


def load_catalog(properties: dict[str, str]):
    """A pyiceberg SQL catalog, or a RuntimeFailure saying how to install pyiceberg."""
    try:
        from pyiceberg.catalog.sql import SqlCatalog
    except ImportError:
        raise RuntimeFailure("The Iceberg client (pyiceberg) is not installed.",
                             "Install it with `pip install purelink-jupyter[iceberg]`.") from None
    try:
        return SqlCatalog("purelink", **properties)
    except Exception as exc:  # noqa: BLE001 - a catalog that cannot open is the user's configuration
        raise RuntimeFailure(f"Cannot open the Iceberg catalog at {_where(properties)}: {str(exc).splitlines()[0]}",
                             "Check the catalog URL (a SQLite file or a PostgreSQL database) and that "
                             "its server is running.") from None


def _where(properties: dict[str, str]) -> str:
    uri = properties.get("uri", "")
    return uri.split("@")[-1] if "@" in uri else uri  # never the password part


def with_secrets(properties: dict[str, str], *, password: str | None, s3_credential: str | None) -> dict[str, str]:
    """The catalog properties with the named secrets put in (never stored or printed)."""
    from urllib.parse import quote, urlsplit, urlunsplit

    from purelink.runtime.auth import read_secret

    out = dict(properties)
    if password:
        parts = urlsplit(out["uri"])
        netloc = f"{parts.username}:{quote(read_secret(password), safe='')}@{parts.hostname}" + \
            (f":{parts.port}" if parts.port else "")
        out["uri"] = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    if s3_credential:
        key_id, _, secret = read_secret(s3_credential).partition(":")
        if not secret:
            raise RuntimeFailure(f"The secret {s3_credential} is not an S3 key pair.",
                                 f"Store it as ACCESS_KEY_ID:SECRET_ACCESS_KEY with `purelink secrets set {s3_credential}`.")
        out.update({"s3.access-key-id": key_id, "s3.secret-access-key": secret})
    return out


def _eq(column: str, value: str) -> Any:
    """pyiceberg's `column == value` filter; its pydantic-made signature reads as keyword-only to mypy."""
    from pyiceberg.expressions import EqualTo

    return cast(Any, EqualTo)(column, value)


def state_key(pipeline: str, stream: str) -> str:
    return f"purelink.state.{pipeline}.{stream}"


def where_key(pipeline: str, stream: str) -> str:
    return f"purelink.table.{pipeline}.{stream}"


class IcebergDestination(Destination):
    """Loads into Iceberg tables: namespace = schema, one table per stream.

    `properties` are pyiceberg's catalog properties: `uri` (sqlite:///... or
    postgresql+psycopg://...), `warehouse` (file:///... or s3://bucket/prefix) and, for S3,
    `s3.endpoint`, `s3.region`. Secrets are named, read when the destination opens (from the
    vault, or the container's secrets file): `password` for a PostgreSQL catalog, `s3_credential`
    for S3 keys (`ACCESS_KEY_ID:SECRET_ACCESS_KEY`; without it, the usual AWS variables).
    """

    fold_case = False

    def __init__(self, properties: dict[str, str], *, password: str | None = None, s3_credential: str | None = None,
                 airbyte_metadata: bool = False, label: str | None = None) -> None:
        self.properties = properties
        self.password, self.s3_credential = password, s3_credential
        self.airbyte_metadata = airbyte_metadata
        self.label = label or properties.get("warehouse", "")
        self.catalog: Any = None  # a pyiceberg SqlCatalog once open

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        self.catalog = load_catalog(with_secrets(self.properties, password=self.password,
                                                 s3_credential=self.s3_credential))
        self.catalog.create_namespace_if_not_exists(INTERNAL)
        for name, columns in BOOKKEEPING.items():
            table = self.catalog.create_table_if_not_exists(f"{INTERNAL}.{name}", schema=pa.schema(columns))
            if set(columns) - set(table.schema().column_names):
                # a table from an older version: Iceberg adds the missing columns, as optional ones
                with table.update_schema() as update:
                    update.union_by_name(pa.schema(columns))

    def close(self) -> None:
        self.catalog = None

    def location(self) -> str:
        return self.label

    def _table(self, schema: str, table: str):
        from pyiceberg.exceptions import NoSuchTableError

        try:
            return self.catalog.load_table((schema, table))
        except NoSuchTableError:
            return None

    def _append(self, name: str, rows: list[dict]) -> None:
        schema = pa.schema(BOOKKEEPING[name])
        self.catalog.load_table((INTERNAL, name)).append(pa.Table.from_pylist(rows, schema=schema))

    # -- executions ------------------------------------------------------------------------
    def start_run(self, *, run_id, pipeline, recipe, version, mode) -> None:
        from pyiceberg.expressions import And

        # One run of a pipeline at a time, as with DuckDB: a row of this pipeline still "running"
        # belongs to a run that was killed.
        table = self.catalog.load_table((INTERNAL, "executions"))
        dead = And(_eq("status", "running"), _eq("pipeline", pipeline))
        rows = table.scan(row_filter=dead).to_arrow().to_pylist()
        if rows:
            for row in rows:
                row["status"] = "interrupted"
            table.overwrite(pa.Table.from_pylist(rows, schema=pa.schema(BOOKKEEPING["executions"])),
                            overwrite_filter=dead)
        self._append("executions", [{"run_id": run_id, "pipeline": pipeline, "recipe": recipe,
                                     "version": version, "mode": mode, "status": "running",
                                     "started_at": datetime.now(UTC), "executor": bookkeeping.executor()}])

    def finish_run(self, run_id: str, **fields: Any) -> None:
        table = self.catalog.load_table((INTERNAL, "executions"))
        found = table.scan(row_filter=_eq("run_id", run_id)).to_arrow().to_pylist()
        row = found[0] if found else {"run_id": run_id}
        if "streams" in fields:
            fields["streams"] = json.dumps(fields["streams"])
        row.update(fields, finished_at=datetime.now(UTC))
        data = pa.Table.from_pylist([row], schema=pa.schema(BOOKKEEPING["executions"]))
        table.overwrite(data, overwrite_filter=_eq("run_id", run_id))

    # -- state -----------------------------------------------------------------------------
    def load_state(self, pipeline: str, stream: str) -> dict[str, Any]:
        # The table's copy, once there, is the whole state (each commit writes it complete); the
        # holder's is older (from before the table existed, or kept across a full refresh).
        holder = self.catalog.load_table((INTERNAL, "state")).properties
        where = holder.get(where_key(pipeline, stream))
        table = self._table(*where.split(".", 1)) if where else None
        if table is not None and state_key(pipeline, stream) in table.properties:
            return json.loads(table.properties[state_key(pipeline, stream)])
        return json.loads(holder.get(state_key(pipeline, stream), "{}"))

    def reset_stream(self, pipeline: str, stream: str, schema: str, table: str) -> None:
        # The generation survives (the reload that follows is the next one); it is kept by the
        # holder while the table is gone.
        kept = {k: v for k, v in self.load_state(pipeline, stream).items() if k == "generation"}
        holder = self.catalog.load_table((INTERNAL, "state"))
        holder.transaction().set_properties({state_key(pipeline, stream): json.dumps(kept)}).commit_transaction()
        if self._table(schema, table) is not None:
            self.catalog.drop_table((schema, table))

    def claim_tables(self, claims: list[Claim], run_id: str) -> list[Claim]:
        rows = self.catalog.load_table((INTERNAL, "tables")).scan().to_arrow().to_pylist()
        owners = {(r["schema_name"], r["table_name"]): (r["pipeline"], r["source"], r["source_table"], r["table_name"])
                  for r in rows}
        resolved, fresh = check_claims(claims, owners, fold_case=False)
        if fresh:
            now = datetime.now(UTC)
            self._append("tables", [{"schema_name": c.schema, "table_name": c.table, "pipeline": c.pipeline,
                                     "source": c.source, "source_table": c.source_table, "run_id": run_id,
                                     "claimed_at": now} for c in fresh])
        return resolved

    # -- loading ---------------------------------------------------------------------------
    def commit(self, batches: Sequence[Batch], *, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        states: dict[tuple[str, str], dict[str, Any]] = {}
        homes: dict[tuple[str, str], tuple[str, str]] = {}
        for batch in batches:
            states.setdefault((batch.pipeline, batch.stream), {}).update(batch.state)
            homes[(batch.pipeline, batch.stream)] = (batch.schema, batch.table)
        changes: list[SchemaChange] = []
        pending = dict(states)
        for batch in coalesce(batches):
            key = (batch.pipeline, batch.stream)
            state = self._next_state(key, pending.pop(key, None))
            changes += self._load(batch, run_id, extracted_at, state)
        for key, update in pending.items():  # state without rows: on the table if there is one
            self._save_state(key, homes[key], self._next_state(key, update))
        self._bookkeeping(batches, changes, run_id, extracted_at)
        return changes

    def _next_state(self, key: tuple[str, str], update: dict[str, Any] | None) -> dict[str, Any] | None:
        if update is None:
            return None
        state = self.load_state(*key)
        state.update(update)
        return {k: v for k, v in state.items() if v is not None}

    def _save_state(self, key: tuple[str, str], home: tuple[str, str], state: dict[str, Any] | None) -> None:
        if state is None:
            return
        table = self._table(*home)
        if table is None:
            table = self.catalog.load_table((INTERNAL, "state"))
        else:
            self._point(key, home)
        table.transaction().set_properties({state_key(*key): json.dumps(state)}).commit_transaction()

    def _point(self, key: tuple[str, str], home: tuple[str, str]) -> None:
        holder = self.catalog.load_table((INTERNAL, "state"))
        where = ".".join(home)
        if holder.properties.get(where_key(*key)) != where:
            holder.transaction().set_properties({where_key(*key): where}).commit_transaction()

    def _load(self, batch: Batch, run_id: str, extracted_at: datetime, state: dict | None) -> list[SchemaChange]:
        key = (batch.pipeline, batch.stream)
        if not isinstance(batch, ArrowBatch):
            data, _ = rest_table(batch, run_id=run_id, extracted_at=extracted_at, airbyte=self.airbyte_metadata)
            return self._write(batch, batch.table, [data], state, mode="merge")
        meta: dict[str, Any] = {"run_id": run_id, "extracted_at": extracted_at, "airbyte": self.airbyte_metadata,
                "generation": batch.generation}
        chunks = (with_meta(storable(t), **meta) for t in batch.tables())
        if batch.load == "stage":
            if batch.fresh and self._table(batch.schema, stage_name(batch.table)) is not None:
                self.catalog.drop_table((batch.schema, stage_name(batch.table)))
            return self._write(batch, stage_name(batch.table), chunks, None, mode="append")
        if batch.load == "swap":
            return self._swap(batch, key, state)
        return self._write(batch, batch.table, chunks, state, mode="merge")

    def _write(self, batch: Batch, name: str, chunks, state: dict | None, *, mode: str) -> list[SchemaChange]:
        key = (batch.pipeline, batch.stream)
        changes: list[SchemaChange] = []
        chunks = list(chunks) if isinstance(chunks, list) else chunks
        previous = None
        for data in chunks:
            if previous is not None:
                changes += self._commit_rows(batch, name, previous, None, mode)
            previous = data
        if previous is not None:
            if state is not None:
                self._point(key, (batch.schema, name))
            changes += self._commit_rows(batch, name, previous, state, mode)
        elif state is not None:
            self._save_state(key, (batch.schema, batch.table), state)
        return changes

    def _commit_rows(self, batch: Batch, name: str, data: pa.Table, state: dict | None, mode: str) -> list[SchemaChange]:
        table, changes = self._evolve(batch, name, data)
        data = conform(data, table.schema().as_arrow())
        tx = table.transaction()
        if data.num_rows:
            if batch.primary_key and mode == "merge":
                tx.upsert(data, join_cols=list(batch.primary_key))
            else:
                tx.append(data)
        if state is not None:
            tx.set_properties({state_key(batch.pipeline, batch.stream): json.dumps(state)})
        tx.commit_transaction()
        return changes

    def _evolve(self, batch: Batch, name: str, data: pa.Table):
        """The table, created or given the columns `data` brings; widening a stored type that
        Iceberg cannot widen in place is refused with what to do."""
        self.catalog.create_namespace_if_not_exists(batch.schema)
        table = self._table(batch.schema, name)
        if table is None:
            return self.catalog.create_table((batch.schema, name), schema=data.schema), []
        stored = table.schema().as_arrow()
        new = [f for f in data.schema if f.name not in stored.names]
        for field in data.schema:
            if field.name in stored.names and not _fits(field.type, stored.field(field.name).type):
                raise RuntimeFailure(
                    f"Column {batch.schema}.{name}.{field.name} is stored as {stored.field(field.name).type} "
                    f"and now receives {field.type}, which Iceberg cannot widen it to in place.",
                    "Reload the stream with --full-refresh: the table is rebuilt with the wider type.")
        if new:
            with table.update_schema() as update:
                update.union_by_name(pa.schema(new))
            table = self.catalog.load_table((batch.schema, name))
        return table, [SchemaChange(batch.stream, name, f.name, "added", None, str(f.type)) for f in new]

    def _swap(self, batch: ArrowBatch, key: tuple[str, str], state: dict | None) -> list[SchemaChange]:
        """The staged rows replace the table's in one overwrite commit, with the state."""
        staged = self._table(batch.schema, stage_name(batch.table))
        if staged is None:
            raise RuntimeFailure(f"Nothing was staged for {batch.stream}.", "Run the pipeline again.")
        data = staged.scan().to_arrow()
        table = self._table(batch.schema, batch.table)
        changes: list[SchemaChange] = []
        if table is None:
            table = self.catalog.create_table((batch.schema, batch.table), schema=data.schema)
        else:
            old = table.schema().as_arrow()
            if old.names != data.schema.names or old.types != data.schema.types:
                changes = [SchemaChange(batch.stream, batch.table, c, "added", None, None)
                           for c in data.schema.names if c not in old.names]
                self.catalog.drop_table((batch.schema, batch.table))
                table = self.catalog.create_table((batch.schema, batch.table), schema=data.schema)
        self._point(key, (batch.schema, batch.table))
        tx = table.transaction()
        tx.overwrite(conform(data, table.schema().as_arrow()))
        if state is not None:
            tx.set_properties({state_key(*key): json.dumps(state)})
        tx.commit_transaction()
        self.catalog.drop_table((batch.schema, stage_name(batch.table)))
        return changes

    def _bookkeeping(self, batches: Sequence[Batch], changes: list[SchemaChange], run_id: str, at: datetime) -> None:
        letters = [{"run_id": run_id, "pipeline": b.pipeline, "stream": b.stream, "reason": reason,
                    "record": json.dumps(record, default=str), "failed_at": at}
                   for b in batches for reason, record in b.dead_letters]
        if letters:
            self._append("dead_letters", letters)
        if changes:
            pipeline = batches[0].pipeline
            self._append("schema_changes", [{"run_id": run_id, "pipeline": pipeline, "stream": c.stream,
                                             "table_name": c.table, "column_name": c.column, "change": c.change,
                                             "old_type": c.old_type, "new_type": c.new_type, "changed_at": at}
                                            for c in changes])


def _fits(incoming: pa.DataType, stored: pa.DataType) -> bool:
    """Whether `incoming` values go into a `stored` column without loss."""
    if _shape(incoming) == _shape(stored) or _text(stored) or pa.types.is_null(incoming):
        return True
    if _text(incoming) or _bytes(incoming):
        return _text(incoming) == _text(stored) and _bytes(incoming) == _bytes(stored)
    if pa.types.is_timestamp(incoming) and pa.types.is_timestamp(stored):
        return (incoming.tz is None) == (stored.tz is None)
    if pa.types.is_integer(incoming) and (pa.types.is_integer(stored) or pa.types.is_floating(stored)):
        return True
    return pa.types.is_decimal(incoming) and pa.types.is_decimal(stored) and incoming.scale <= stored.scale


def _text(kind: pa.DataType) -> bool:
    # pyiceberg reads strings back as large_string: the same Iceberg type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _bytes(kind: pa.DataType) -> bool:
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind)


def _shape(kind: pa.DataType) -> str:
    """A type as Iceberg sees it: pyiceberg reads strings, binaries and lists back as their large_
    forms and names list items `element`; neither changes what the column holds."""
    return str(kind).replace("large_", "").replace("element:", "item:")
