"""BigQuery as a destination: Parquet load jobs into staging tables, then MERGE on the key.

Everything lives in one dataset (created if missing): the stream `stripe.customers` is the table
`stripe__customers`, the bookkeeping `_purelink__state`, `_purelink__executions` and so on.

Rows and state committed together: each commit first loads its rows, and the state, dead letters
and schema changes that go with them, into staging tables (load jobs, outside any transaction: a
staging table is this commit's alone). Then ONE multi-statement transaction merges the staged rows
into their tables and replaces the state rows; BigQuery (and the emulator the tests use) applies
all of it or none. A kill before the transaction leaves only staging tables (`_purelink_load_*`, which nothing
reads); a kill after it changes nothing. Values never appear in SQL text: they
travel in Parquet files (scripts take no query parameters on the emulator).

Schema drift: new columns are added (ALTER TABLE ADD COLUMN) before the transaction, which is
harmless if it never commits. GEOGRAPHY is not loaded as such: the emulator has no spatial
support, and geometry arrives here as text anyway.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from purelink.runtime import bookkeeping
from purelink.runtime.arrow_batch import ArrowBatch, stage_name
from purelink.runtime.destinations.base import Batch, Claim, Destination, SchemaChange, check_claims
from purelink.runtime.destinations.bigquery_client import client, column_type, flat, load_parquet, run
from purelink.runtime.destinations.columnar import BOOKKEEPING, TEXT, rest_table, storable, with_meta
from purelink.runtime.destinations.shaping import coalesce
from purelink.runtime.errors import RuntimeFailure


def table_name(schema: str, table: str) -> str:
    """A (schema, table) pair as one BigQuery table name in the dataset."""
    return f"{schema}__{table}"


def q(name: str) -> str:
    return "`" + name.replace("`", "") + "`"


class BigQueryDestination(Destination):
    """Loads into the dataset `project.dataset` (`endpoint`: an emulator or a private endpoint;
    `credential`: the secret holding a service-account JSON key)."""

    fold_case = False

    def __init__(self, project: str, dataset: str, *, endpoint: str | None = None, credential: str | None = None,
                 airbyte_metadata: bool = False, location: str | None = None) -> None:
        self.project, self.dataset, self.endpoint, self.credential = project, dataset, endpoint, credential
        self.airbyte_metadata = airbyte_metadata
        self.region = location
        self.bq: Any = None  # a google.cloud.bigquery.Client once open
        self._swapped: list[str] = []  # staging tables of reloads, dropped once their swap commits

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        from google.api_core.exceptions import GoogleAPIError
        from google.cloud import bigquery

        from purelink.runtime.destinations.bigquery_client import explain

        self.bq = client(self.project, endpoint=self.endpoint, credential=self.credential)
        dataset = bigquery.Dataset(f"{self.project}.{self.dataset}")
        if self.region:
            dataset.location = self.region
        try:
            self.bq.create_dataset(dataset, exists_ok=True)
        except GoogleAPIError as exc:
            raise explain(exc, f"create the dataset {self.project}.{self.dataset}") from None
        for name, columns in BOOKKEEPING.items():
            self._create(table_name("_purelink", name), pa.schema(columns))
            self._upgrade(table_name("_purelink", name), columns)

    def _upgrade(self, name: str, columns: dict[str, pa.DataType]) -> None:
        """Add the columns a bookkeeping table from an older version lacks (at the end, where the
        definition puts new ones, so `INSERT ... SELECT *` from a staging table still lines up)."""
        have = self._columns(name)
        for column, kind in columns.items():
            if column not in have:
                run(self.bq, f"ALTER TABLE {self.ref(name)} ADD COLUMN IF NOT EXISTS {q(column)} {column_type(kind)}",
                    what=f"add the column {column} to {name}")

    def close(self) -> None:
        if self.bq is not None:
            self.bq.close()
            self.bq = None

    def location(self) -> str:
        return f"bigquery://{self.project}/{self.dataset}"

    def ref(self, name: str) -> str:
        return q(f"{self.project}.{self.dataset}.{name}")

    def _create(self, name: str, schema: pa.Schema, *, replace: bool = False) -> None:
        columns = ", ".join(f"{q(f.name)} {column_type(f.type)}" for f in schema)
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE IF NOT EXISTS"
        run(self.bq, f"{verb} {self.ref(name)} ({columns})", what=f"create the table {name}")

    def _columns(self, name: str) -> dict[str, str]:
        from google.api_core.exceptions import NotFound

        try:
            return {f.name: f.field_type for f in self.bq.get_table(f"{self.project}.{self.dataset}.{name}").schema}
        except NotFound:
            return {}

    def _params(self, *values: tuple[str, str, Any]):
        from google.cloud import bigquery

        return [bigquery.ScalarQueryParameter(name, kind, value) for name, kind, value in values]

    # -- executions ------------------------------------------------------------------------
    def start_run(self, *, run_id, pipeline, recipe, version, mode) -> None:
        # One run of a pipeline at a time, as with DuckDB: a row of this pipeline still "running"
        # belongs to a run that was killed.
        run(self.bq, f"UPDATE {self.ref(table_name('_purelink', 'executions'))} SET status = 'interrupted' "
                     "WHERE status = 'running' AND pipeline = @p", self._params(("p", "STRING", pipeline)),
            what="mark killed runs")
        row = {"run_id": run_id, "pipeline": pipeline, "recipe": recipe, "version": version, "mode": mode,
               "status": "running", "started_at": datetime.now(UTC), "executor": bookkeeping.executor()}
        load_parquet(self.bq, pa.Table.from_pylist([row], schema=pa.schema(BOOKKEEPING["executions"])),
                     f"{self.project}.{self.dataset}.{table_name('_purelink', 'executions')}", append=True)

    def finish_run(self, run_id: str, **fields: Any) -> None:
        if "streams" in fields:
            fields["streams"] = json.dumps(fields["streams"])
        fields["finished_at"] = datetime.now(UTC)
        types = BOOKKEEPING["executions"]
        sets, params = [], []
        for i, (name, value) in enumerate(fields.items()):
            kind = column_type(types.get(name, TEXT))
            if kind == "STRING" and value is not None:
                value = str(value)
            sets.append(f"{q(name)} = @v{i}")
            params.append((f"v{i}", kind, value))
        run(self.bq, f"UPDATE {self.ref(table_name('_purelink', 'executions'))} SET {', '.join(sets)} "
                     "WHERE run_id = @run_id", self._params(*params, ("run_id", "STRING", run_id)),
            what="record the run")

    # -- state -----------------------------------------------------------------------------
    def load_state(self, pipeline: str, stream: str) -> dict[str, Any]:
        rows = run(self.bq, f"SELECT `key`, `value` FROM {self.ref(table_name('_purelink', 'state'))} "
                            "WHERE pipeline = @p AND stream = @s",
                   self._params(("p", "STRING", pipeline), ("s", "STRING", stream)), what="read the state")
        return {r["key"]: json.loads(r["value"]) for r in rows}

    def reset_stream(self, pipeline: str, stream: str, schema: str, table: str) -> None:
        # The generation survives: the reload that follows is the next one.
        run(self.bq, f"DELETE FROM {self.ref(table_name('_purelink', 'state'))} WHERE pipeline = @p "
                     "AND stream = @s AND `key` <> 'generation'",
            self._params(("p", "STRING", pipeline), ("s", "STRING", stream)), what="reset the state")
        run(self.bq, f"DROP TABLE IF EXISTS {self.ref(table_name(schema, table))}", what="drop the table")

    def claim_tables(self, claims: list[Claim], run_id: str) -> list[Claim]:
        rows = run(self.bq, f"SELECT * FROM {self.ref(table_name('_purelink', 'tables'))}", what="read the owners")
        owners = {(r["schema_name"], r["table_name"]): (r["pipeline"], r["source"], r["source_table"], r["table_name"])
                  for r in rows}
        resolved, fresh = check_claims(claims, owners, fold_case=False)
        if fresh:
            now = datetime.now(UTC)
            data = pa.Table.from_pylist([{"schema_name": c.schema, "table_name": c.table, "pipeline": c.pipeline,
                                          "source": c.source, "source_table": c.source_table, "run_id": run_id,
                                          "claimed_at": now} for c in fresh], schema=pa.schema(BOOKKEEPING["tables"]))
            load_parquet(self.bq, data, f"{self.project}.{self.dataset}.{table_name('_purelink', 'tables')}",
                         append=True)
        return resolved

    # -- loading ---------------------------------------------------------------------------
    def commit(self, batches: Sequence[Batch], *, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        tag = uuid.uuid4().hex[:12]
        staged: list[str] = []
        script: list[str] = []
        changes: list[SchemaChange] = []
        try:
            for i, batch in enumerate(coalesce(batches)):
                stage = f"_purelink_load_{tag}_{i}"
                if self._stage(batch, stage, run_id, extracted_at, changes, script):
                    staged.append(stage)
            self._stage_bookkeeping(batches, changes, run_id, extracted_at, tag, staged, script)
            if script:
                run(self.bq, "BEGIN TRANSACTION;\n" + ";\n".join(script) + ";\nCOMMIT TRANSACTION;",
                    what="commit the loaded rows with their state")
            staged += self._swapped
        finally:
            self._swapped = []
            for name in staged:
                run(self.bq, f"DROP TABLE IF EXISTS {self.ref(name)}", what="drop a staging table")
        return changes

    def _stage(self, batch: Batch, stage: str, run_id: str, extracted_at: datetime,
               changes: list[SchemaChange], script: list[str]) -> bool:
        """Load the batch's rows into `stage` and add the statement that merges them; False when
        nothing was staged."""
        if isinstance(batch, ArrowBatch):
            meta: dict[str, Any] = {"run_id": run_id, "extracted_at": extracted_at, "airbyte": self.airbyte_metadata,
                    "generation": batch.generation}
            chunks = [flat(with_meta(storable(t), **meta)) for t in batch.tables()]
            if batch.load == "swap":
                self._swap(batch, changes, script)
                return False
            target = table_name(batch.schema, stage_name(batch.table) if batch.load == "stage" else batch.table)
            if batch.load == "stage" and batch.fresh:
                run(self.bq, f"DROP TABLE IF EXISTS {self.ref(target)}", what="drop an old staging table")
        else:
            data, _ = rest_table(batch, run_id=run_id, extracted_at=extracted_at, airbyte=self.airbyte_metadata)
            chunks, target = [data], table_name(batch.schema, batch.table)
        chunks = [c for c in chunks if c.num_rows]
        if not chunks:
            return False
        schema = chunks[0].schema
        changes += self._evolve(batch, target, schema)
        self._create(stage, schema, replace=True)
        for data in chunks:
            load_parquet(self.bq, data.cast(schema), f"{self.project}.{self.dataset}.{stage}", append=True)
        script.append(self._merge(target, stage, schema.names, batch.primary_key
                                  if not isinstance(batch, ArrowBatch) or batch.load == "merge" else ()))
        return True

    def _merge(self, target: str, stage: str, columns: list[str], key: tuple[str, ...]) -> str:
        names = ", ".join(q(c) for c in columns)
        if not key:
            return f"INSERT INTO {self.ref(target)} ({names}) SELECT {names} FROM {self.ref(stage)}"
        on = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in key)
        sets = ", ".join(f"{q(c)} = s.{q(c)}" for c in columns if c not in key)
        values = ", ".join(f"s.{q(c)}" for c in columns)
        return (f"MERGE {self.ref(target)} t USING {self.ref(stage)} s ON {on} "
                f"WHEN MATCHED THEN UPDATE SET {sets} WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})")

    def _evolve(self, batch: Batch, target: str, schema: pa.Schema) -> list[SchemaChange]:
        existing = self._columns(target)
        if not existing:
            self._create(target, schema)
            return []
        changes = []
        for field in schema:
            kind = column_type(field.type)
            old = existing.get(field.name)
            if old is None:
                run(self.bq, f"ALTER TABLE {self.ref(target)} ADD COLUMN {q(field.name)} {kind}",
                    what=f"add the column {field.name}")
                changes.append(SchemaChange(batch.stream, batch.table, field.name, "added", None, kind))
            elif _family(old) != _family(kind) and _family(old) != "STRING":
                raise RuntimeFailure(
                    f"Column {field.name} of {target} is {old} in BigQuery and now receives {kind} values.",
                    "Reload the stream with --full-refresh: the table is rebuilt with the new type.")
        return changes

    def _swap(self, batch: ArrowBatch, changes: list[SchemaChange], script: list[str]) -> None:
        """The staged reload replaces the table's rows inside the commit's transaction."""
        staged = table_name(batch.schema, stage_name(batch.table))
        columns = self._columns(staged)
        if not columns:
            raise RuntimeFailure(f"Nothing was staged for {batch.stream}.", "Run the pipeline again.")
        target = table_name(batch.schema, batch.table)
        existing = self._columns(target)
        if not existing:
            run(self.bq, f"CREATE TABLE {self.ref(target)} AS SELECT * FROM {self.ref(staged)} WHERE FALSE",
                what=f"create the table {target}")
        for name, kind in columns.items():
            if existing and name not in existing:
                run(self.bq, f"ALTER TABLE {self.ref(target)} ADD COLUMN {q(name)} {kind}",
                    what=f"add the column {name}")
                changes.append(SchemaChange(batch.stream, batch.table, name, "added", None, kind))
        names = ", ".join(q(c) for c in columns)
        script.append(f"DELETE FROM {self.ref(target)} WHERE TRUE")
        script.append(f"INSERT INTO {self.ref(target)} ({names}) SELECT {names} FROM {self.ref(staged)}")
        self._swapped.append(staged)

    def _stage_bookkeeping(self, batches: Sequence[Batch], changes: list[SchemaChange], run_id: str, at: datetime,
                           tag: str, staged: list[str], script: list[str]) -> None:
        """State, dead letters and schema changes staged like rows, applied in the same transaction."""
        states: dict[tuple[str, str], dict[str, Any]] = {}
        for batch in batches:
            states.setdefault((batch.pipeline, batch.stream), {}).update(batch.state)
        state_rows = [{"pipeline": p, "stream": s, "key": k, "value": None if v is None else json.dumps(v),
                       "run_id": run_id, "updated_at": at} for (p, s), state in states.items() for k, v in state.items()]
        letters = [{"run_id": run_id, "pipeline": b.pipeline, "stream": b.stream, "reason": reason,
                    "record": json.dumps(record, default=str), "failed_at": at}
                   for b in batches for reason, record in b.dead_letters]
        pipeline = batches[0].pipeline if batches else ""
        drift = [{"run_id": run_id, "pipeline": pipeline, "stream": c.stream, "table_name": c.table,
                  "column_name": c.column, "change": c.change, "old_type": c.old_type, "new_type": c.new_type,
                  "changed_at": at} for c in changes]
        for name, rows in (("state", state_rows), ("dead_letters", letters), ("schema_changes", drift)):
            if not rows:
                continue
            schema = pa.schema(BOOKKEEPING[name])
            stage = f"_purelink_load_{tag}_{name}"
            self._create(stage, schema, replace=True)
            staged.append(stage)
            load_parquet(self.bq, pa.Table.from_pylist(rows, schema=schema),
                         f"{self.project}.{self.dataset}.{stage}", append=True)
            target = self.ref(table_name("_purelink", name))
            if name == "state":
                script.append(f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM {self.ref(stage)} s WHERE "
                              "s.pipeline = t.pipeline AND s.stream = t.stream AND s.`key` = t.`key`)")
                script.append(f"INSERT INTO {target} SELECT * FROM {self.ref(stage)} WHERE `value` IS NOT NULL")
            else:
                script.append(f"INSERT INTO {target} SELECT * FROM {self.ref(stage)}")


def _family(kind: str) -> str:
    """Types whose values a column of the other holds (INTEGER is INT64's legacy name)."""
    return {"INTEGER": "NUMBER", "INT64": "NUMBER", "FLOAT": "NUMBER", "FLOAT64": "NUMBER",
            "NUMERIC": "NUMBER", "BIGNUMERIC": "NUMBER", "BOOLEAN": "BOOL"}.get(kind, kind)
