"""Running a database pipeline: `sql_main()` for generated modules, `sql_run()` for Python callers.

    python pipelines/manufacturing.py [--sample N] [--full-refresh] [--db PATH] [--streams a,b]

Prints the same JSON events as an API pipeline (started, page, warning, error, heartbeat,
finished) and exits 0 when every stream succeeded.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from purelink.runtime import pg
from purelink.runtime.arrow_batch import ArrowBatch
from purelink.runtime.auth import mask
from purelink.runtime.causes import cause_of
from purelink.runtime.destinations.base import Claim, Destination, generation_of
from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination
from purelink.runtime.entry import finish, invocation
from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.events import EventWriter
from purelink.runtime.prefetch import Prefetch
from purelink.runtime.refresh import TARGET, moved
from purelink.runtime.sources.postgres import (
    Plan,
    PostgresSource,
    SqlStream,
    Table,
    cursor_batches,
    infinite_count,
    plan_stream,
    read_batches,
)

TIME_CURSORS = {"timestamptz", "timestamp", "date"}


class Stopped(Exception):
    """Raised inside a load when the run is asked to stop: the open transaction rolls back."""


class _Counter:
    def __init__(self, emit, estimated: int | None) -> None:
        self.emit, self.estimated = emit, estimated
        self.records = 0
        self.started = time.monotonic()

    def progress(self) -> float | None:
        if not self.estimated:
            return None
        return round(min(1.0, self.records / self.estimated), 4)

    def eta(self) -> float | None:
        fraction = self.progress()
        if not fraction:
            return None
        elapsed = time.monotonic() - self.started
        return round(elapsed * (1 - fraction) / fraction, 1)


class SqlRun:
    """One run over several streams; the calling thread owns both connections."""

    def __init__(self, source: PostgresSource, streams: list[SqlStream], destination: Destination, *,
                 pipeline: str, schema: str, run_id: str, emit, stop: threading.Event,
                 full_refresh: bool = False, sample: int | None = None, lookback_s: float = 0) -> None:
        self.source, self.streams, self.destination = source, streams, destination
        self.pipeline, self.schema, self.run_id, self.emit, self.stop = pipeline, schema, run_id, emit, stop
        self.full_refresh, self.sample, self.lookback_s = full_refresh, sample, lookback_s
        self.results: dict[str, dict] = {}
        self.landed: dict[str, str] = {}  # stream -> "schema.table" its rows load into (claimed)
        self.counter = _Counter(emit, None)
        self.warnings = self.errors = self.schema_changes = 0
        self._connections: dict[tuple[int, str | None], Any] = {}

    def source_of(self, stream: SqlStream) -> PostgresSource:
        return stream.source or self.source

    def cursor(self, stream: SqlStream) -> Any:
        key = (id(self.source_of(stream)), stream.database)
        if key not in self._connections:
            self._connections[key] = self.source_of(stream).connect(stream.database)
        return self._connections[key].cursor()

    def close(self) -> None:
        for con in self._connections.values():
            with contextlib.suppress(Exception):  # closing after a failure (a dead server) must not hide it
                con.rollback()
                con.close()

    def run(self) -> None:
        plans: list[Plan] = []
        for stream in self.streams:
            try:
                plan = plan_stream(self.cursor(stream), stream)
            except RuntimeFailure as exc:
                self._fail(stream.name, exc)
                continue
            for note in plan.notes:
                self.warn(note, stream.name)
            plans.append(plan)
        # Every target is checked before the first row moves: a run either loads into tables it owns
        # (or that are new) or loads nothing.
        claimed = self.destination.claim_tables([self._claim(p) for p in plans], self.run_id)
        for plan, claim in zip(plans, claimed, strict=True):
            self.landed[plan.stream.name] = f"{claim.schema}.{claim.table}"
            if claim.table != plan.stream.table_name:
                plan.stream.into = claim.table  # kept apart from another source's same-named table
            if claim.renamed_from:
                self.warn(claim.note(), plan.stream.name)
        estimates = [min(p.estimated_rows or 0, self.sample or p.estimated_rows or 0) for p in plans]
        self.counter.estimated = sum(estimates) or None
        for plan in plans:
            if self.stop.is_set():
                break
            name = plan.stream.name
            self.results[name] = {"records": 0, "status": "running", "error": None, "mode": plan.mode,
                                  "columns": len(plan.columns), "table": self.landed.get(name)}
            try:
                self._load(plan)
                self.results[name]["status"] = "success"
            except Stopped:
                self.results[name]["status"] = "stopped"
            except Exception as exc:  # noqa: BLE001 - one stream's failure, with its cause, stops that stream only
                self._fail(name, exc)
            if self.results[name].get("staged"):  # a reload that did not reach its swap
                self.results[name].setdefault("committed", 0)  # none of its rows are in the table
                self.warn(f"the reload of {name} did not finish: its table keeps its old rows and saved cursor "
                          f"({self.results[name]['staged']} row(s) read were not swapped in); run the recipe "
                          "again to reload it", name)

    def _claim(self, plan: Plan) -> Claim:
        stream = plan.stream
        read = ".".join(stream.parts[1:]) if isinstance(stream, Table) else f"query {stream.name}"
        return Claim(stream=stream.name, schema=self.schema, table=stream.table_name, pipeline=self.pipeline,
                     source=self.source_of(stream).identity(stream.database), source_table=read,
                     # Generated modules spell the default out (`into="production"` for public.production):
                     # only another name is the user's choice, which is refused rather than renamed.
                     chosen=stream.into not in (None, stream.name.split(".")[-1]))

    def _fail(self, name: str, exc: BaseException) -> None:
        self.errors += 1
        cause = cause_of(exc, stream=name, source=pg.describe(self.source.url))
        entry = self.results.setdefault(name, {"records": 0})
        entry.update(status="failed", error=cause["message"], cause=cause)
        self.emit("error", stream=name, message=cause["message"], guidance=cause["guidance"], cause=cause)

    def warn(self, message: str, stream: str | None = None) -> None:
        self.warnings += 1
        self.emit("warning", stream=stream, message=message)

    def _batch(self, plan: Plan, **fields) -> ArrowBatch:
        return ArrowBatch(pipeline=self.pipeline, stream=plan.stream.name, schema=self.schema,
                          table=plan.stream.table_name, primary_key=plan.key, **fields)

    def _horizon(self, cur: Any, plan: Plan) -> Any:
        """The highest cursor a run may save: the source's clock minus the lookback. Only for time
        cursors, and only with a primary key: without one, rows read again would be appended twice."""
        if not self.lookback_s or not plan.key or plan.cursor_type not in TIME_CURSORS:
            return None
        sql = f"SELECT CAST(now() - make_interval(secs => CAST($1 AS double precision)) AS {plan.cursor_type})"
        return pg.fetch(cur, sql, [float(self.lookback_s)])[0][0]

    def _commit(self, batches: list[ArrowBatch]) -> None:
        changes = self.destination.commit(batches, run_id=self.run_id, extracted_at=datetime.now(UTC))
        for batch in batches:  # what a failure later in the run leaves committed
            entry = self.results.setdefault(batch.stream, {"records": 0})
            if batch.load == "stage":
                entry["staged"] = entry.get("staged", 0) + _rows(batch)
            elif batch.load == "swap":
                entry["committed"] = entry.pop("staged", 0)
            elif batch.data is not None:
                entry["committed"] = entry.get("committed", 0) + _rows(batch)
        for change in changes:
            self.schema_changes += 1
            self.warn(change.message(), change.stream)

    def _load(self, plan: Plan) -> None:
        stream, cur = plan.stream, self.cursor(plan.stream)
        state = {} if self.sample else self.destination.load_state(self.pipeline, stream.name)
        incremental = bool(plan.cursor) and not self.sample
        # The saved cursor belongs to the table it filled: a recipe naming another table (`into`) reads from the start.
        fresh = self.full_refresh or state.get(TARGET) not in (None, stream.table_name)
        if incremental and fresh and not self.full_refresh:
            self.warn(moved(stream.name, self.schema, stream.table_name, state[TARGET]), stream.name)
        refresh = incremental and fresh  # read whole, staged like a reload, the cursor saved at the swap
        generation = generation_of(state.get("generation"), rebuilt=not incremental or fresh)
        keep = {} if self.sample else {"generation": generation, TARGET: stream.table_name}
        horizon = self._horizon(cur, plan) if incremental else None
        tables = self._counted(plan, Prefetch(read_batches(cur, plan, after=None if refresh else state.get("cursor"),
                                                           limit=self.sample, batch_mb=self.source_of(stream).batch_mb)))
        if incremental and not refresh:
            for table, value in cursor_batches(tables, plan.cursor or "", horizon=horizon):
                advance = {"cursor": value} if value is not None else {}
                self._commit([self._batch(plan, data=table, state={**advance, **keep}, generation=generation)])
        else:
            # Whole-table reload or full refresh: batches go to a staging table (memory near one batch), swapped
            # in atomically; a run stopped or killed half way leaves the table and its saved cursor as they were.
            pairs = cursor_batches(tables, plan.cursor or "", horizon=horizon) if refresh else ((t, None) for t in tables)
            done: dict[str, Any] = {"cursor": None} if refresh else {}  # no cursor value found: forget the old one
            for i, (table, value) in enumerate(pairs):
                self._commit([self._batch(plan, data=table, load="stage", fresh=i == 0, generation=generation)])
                done = {"cursor": value} if value is not None else done
            done = {} if self.sample else {**done, "full_sync_run": self.run_id, **keep}
            self._commit([self._batch(plan, load="swap", state=done, generation=generation)])
        nulls = self.results[stream.name].get("null_cursor", 0)
        if nulls and incremental:
            self.warn(f"{nulls} row(s) have no {plan.cursor} value: loaded, and read again on every run "
                      "because no cursor can place them", stream.name)
        infinite = self.results[stream.name].pop("infinite_cursor", 0)
        if infinite and incremental:
            self.warn(f"{infinite} row(s) have {plan.cursor} = infinity: loaded, and read again on every run "
                      "(a saved cursor of infinity would skip every later row)", stream.name)
        cur.connection.commit()  # end the read snapshot

    def _counted(self, plan: Plan, tables):
        for table in tables:
            if self.stop.is_set():
                raise Stopped()
            entry = self.results[plan.stream.name]
            entry["records"] += table.num_rows
            if plan.cursor:
                entry["null_cursor"] = entry.get("null_cursor", 0) + table[plan.cursor].null_count
                entry["infinite_cursor"] = entry.get("infinite_cursor", 0) + infinite_count(table[plan.cursor])
            self.counter.records += table.num_rows
            elapsed = max(time.monotonic() - self.counter.started, 1e-6)
            if table.num_rows:
                self.emit("page", stream=plan.stream.name, records=table.num_rows, bytes=table.nbytes,
                          stream_records=entry["records"], total_records=self.counter.records,
                          records_per_s=round(self.counter.records / elapsed, 1),
                          progress=self.counter.progress(), eta_s=self.counter.eta())
            yield table


def _rows(batch: ArrowBatch) -> int:
    """Rows of a batch holding one table (the SQL pipeline never hands the destination an iterable)."""
    return batch.data.num_rows if isinstance(batch.data, pa.Table) else 0


def sql_run(source: PostgresSource, streams: list[SqlStream], *, pipeline: str, destination: Destination,
            schema: str | None = None, recipe: str | None = None, version: int = 1, sample: int | None = None,
            full_refresh: bool = False, run_id: str | None = None, events: EventWriter | None = None,
            stop: threading.Event | None = None, lookback_s: float = 0) -> dict:
    """Run the streams into the destination and return the `finished` event."""
    run_id = run_id or uuid.uuid4().hex[:16]
    stop = stop or threading.Event()
    events = events or EventWriter(run_id, redact=mask, on_lost=stop.set)
    emit = events.emit
    mode = "sample" if sample else ("full_refresh" if full_refresh else "incremental")
    started = time.monotonic()
    emit("started", pipeline=pipeline, recipe=recipe or pipeline, version=version, mode=mode,
         streams=[s.name for s in streams], source=", ".join(dict.fromkeys((s.source or source).name for s in streams)),
         destination=destination.location())
    finished: dict = {"status": "failed", "records": 0, "errors": 0, "warnings": 0, "streams": {}}
    opened = False
    job = SqlRun(source, streams, destination, pipeline=pipeline, schema=schema or source.name, run_id=run_id,
                 emit=emit, stop=stop, full_refresh=full_refresh, sample=sample, lookback_s=lookback_s)
    beat = _Heartbeat(job)
    try:
        destination.open()
        opened = True
        destination.start_run(run_id=run_id, pipeline=pipeline, recipe=recipe or pipeline, version=version,
                              mode=mode)
        beat.start()
        job.run()
        statuses = {r["status"] for r in job.results.values()}
        status = "failed" if "failed" in statuses else ("stopped" if stop.is_set() else "success")
        causes = [r["cause"] for r in job.results.values() if r.get("cause")]
        finished = {"status": status, "records": job.counter.records, "streams": job.results,
                    "errors": job.errors, "warnings": job.warnings, "schema_changes": job.schema_changes,
                    "cause": causes[0] if causes else None, "error": causes[0]["message"] if causes else None,
                    "guidance": causes[0]["guidance"] if causes else None, "dead_letters": 0}
        if sample:
            finished["checks"] = sample_checklist(job)
    except Exception as exc:  # noqa: BLE001 - any failure ends as a cause the user can act on
        cause = cause_of(exc, source=pg.describe(source.url))
        emit("error", message=cause["message"], guidance=cause["guidance"], cause=cause)
        finished.update(status="failed", cause=cause, error=cause["message"], guidance=cause["guidance"],
                        errors=job.errors + 1, streams=job.results, records=job.counter.records)
    finally:
        beat.cancel()
        job.close()
        finished["duration_s"] = round(time.monotonic() - started, 3)
        finished["committed"] = sum(r.get("committed", 0) for r in job.results.values())
        destination.end_run(run_id, finished, opened=opened, pipeline=pipeline, recipe=recipe or pipeline,
                            version=version, mode=mode)
        finished["storage_bytes"] = destination.storage_bytes()
        finished["destination"] = destination.location()
        emit("finished", **finished)
    return finished


def sample_checklist(job: SqlRun) -> list[dict]:
    """The test run's checklist, in the same shape as an API pipeline's."""
    ok = [n for n, r in job.results.items() if r.get("status") == "success"]
    bad = {n: r.get("error") for n, r in job.results.items() if r.get("status") == "failed"}
    checks = [{"name": "connectivity", "status": "PASS" if job._connections else "FAIL",
               "detail": "connected to the source" if job._connections else "no connection"}]
    checks.append({"name": "permissions", "status": "FAIL" if bad else "PASS",
                   "detail": "; ".join(f"{n}: {e}" for n, e in bad.items()) or "every stream readable"})
    checks.append({"name": "sample records", "status": "PASS" if ok else "WARN",
                   "detail": ", ".join(f"{n}: {job.results[n]['records']}" for n in ok) or "no rows"})
    checks.append({"name": "storage writes", "status": "PASS" if ok and not bad else "FAIL",
                   "detail": f"{len(ok)} table(s) written with their declared types"})
    return checks


class _Heartbeat(threading.Thread):
    """Progress every few seconds, even while one big transaction is being written."""

    def __init__(self, job: SqlRun, every_s: float = 2.0) -> None:
        super().__init__(daemon=True, name="purelink-heartbeat")
        self.job, self.every_s = job, every_s
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.every_s):
            c = self.job.counter
            elapsed = max(time.monotonic() - c.started, 1e-6)
            self.job.emit("heartbeat", records=c.records, records_per_s=round(c.records / elapsed, 1),
                          progress=c.progress(), eta_s=c.eta(), errors=self.job.errors, warnings=self.job.warnings)

    def cancel(self) -> None:
        self._done.set()


def sql_main(source: PostgresSource, streams: list[SqlStream], *, pipeline: str, recipe: str | None = None,
             version: int = 1, db: str = "data/purelink.duckdb", warehouse: Destination | None = None,
             schema: str | None = None, airbyte_metadata: bool = False,
             workspace: str | Path | None = None, lookback_s: float = 0) -> None:
    """Command-line entry point of a generated database module; exits with the run's status.

    `warehouse` (a `PostgresDestination`) receives the rows; without it they go to the DuckDB
    file `db`. A `--sample` run always writes to the DuckDB file it is given, never the warehouse.
    """
    call = invocation(pipeline, streams, db=db, workspace=workspace)
    args, chosen, path, stop = call.args, call.streams, call.db_path, call.stop
    if warehouse is not None and not args.sample:
        destination, target_schema = warehouse, getattr(warehouse, "schema", None) or schema
    else:
        destination = DuckDBArrowDestination(path, airbyte_metadata=airbyte_metadata)
        target_schema = schema
    finished = sql_run(source, chosen, pipeline=pipeline, destination=destination, schema=target_schema,
                       recipe=recipe, version=version, sample=args.sample, full_refresh=args.full_refresh,
                       run_id=call.run_id, events=call.events(), stop=stop, lookback_s=lookback_s)
    finish(finished)
