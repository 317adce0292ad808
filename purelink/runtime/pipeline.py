"""Running a pipeline: `main()` for generated modules, `run()` for Python callers.

    python pipelines/stripe_customers.py [--sample N] [--full-refresh] [--db PATH] [--streams a,b]

Prints one JSON event per line on stdout and exits 0 when every stream succeeded.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from purelink.runtime.auth import mask
from purelink.runtime.causes import cause, cause_of
from purelink.runtime.checks import sample_checks
from purelink.runtime.destinations.base import Destination
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.entry import finish, invocation
from purelink.runtime.events import EventWriter
from purelink.runtime.extract import Extraction
from purelink.runtime.http import HttpClient, RetryPolicy, TokenBucket
from purelink.runtime.net import reachable
from purelink.runtime.refresh import REFRESHING
from purelink.runtime.sources.rest import RestSource, Stream

log = logging.getLogger("purelink.runtime")


def make_client(source: RestSource, retry: RetryPolicy | None = None) -> HttpClient:
    headers = {"User-Agent": "purelink", **source.headers, **source.auth.headers()}
    params = {**source.params, **source.auth.params()}
    base_url = reachable(os.environ.get("PURELINK_BASE_URL") or source.base_url)
    return HttpClient(
        base_url=base_url, headers=headers, params=params or None,
        limiter=TokenBucket(source.rate_limit, burst_s=source.burst_s), retry=retry or RetryPolicy(),
        timeout_s=source.timeout_s, deadline_s=source.request_deadline_s,
        max_connections=max(4, source.concurrency * 2),
    )


def run(source: RestSource, streams: list[Stream], *, pipeline: str, destination: Destination,
        recipe: str | None = None, version: int = 1, sample: int | None = None, full_refresh: bool = False,
        run_id: str | None = None, events: EventWriter | None = None, stop: threading.Event | None = None,
        concurrency: int | None = None, retry: RetryPolicy | None = None) -> dict:
    """Run the streams into the destination and return the `finished` event."""
    run_id = run_id or uuid.uuid4().hex[:16]
    stop = stop or threading.Event()
    events = events or EventWriter(run_id, redact=mask, on_lost=stop.set)
    mode = "sample" if sample else ("full_refresh" if full_refresh else "incremental")
    started = time.monotonic()
    emit = events.emit
    client = None
    opened = False
    finished: dict = {}
    extraction: Extraction | None = None
    try:
        previous, states, continuing = None, {}, []
        try:
            destination.open()
            opened = True
            destination.start_run(run_id=run_id, pipeline=pipeline, recipe=recipe or pipeline,
                                  version=version, mode=mode)
            previous = destination.previous_records(pipeline, mode)
            if mode == "incremental":  # refreshes an earlier run left unfinished: this run goes on with them
                states = {s.name: destination.load_state(pipeline, s.name) for s in streams}
                continuing = [name for name, state in states.items() if state.get(REFRESHING)]
        finally:  # sent once the destination is open (with what it knows), or failed to open
            emit("started", pipeline=pipeline, recipe=recipe or pipeline, version=version, mode=mode,
                 streams=[s.name for s in streams], source=source.name, destination=destination.location(),
                 rate_limit=source.rate_limit, burst_s=source.burst_s, concurrency=concurrency or source.concurrency,
                 **({"previous_records": previous} if previous else {}),
                 **({"continuing": continuing} if continuing else {}))
        client = make_client(source, retry)
        client.on_retry = lambda message: log.info(message)
        client.on_unreachable = events.note  # a person at a terminal sees the wait; JSON carries no notes
        if sample:
            finished = sample_checks(source, streams, destination, client=client, pipeline=pipeline,
                                     run_id=run_id, limit=sample, emit=emit)
        else:
            client.cancel = stop  # a stop does not wait for requests still waiting their turn (http.Stopped)
            extraction = Extraction(source, streams, destination, pipeline=pipeline, run_id=run_id,
                                    client=client, emit=emit, stop=stop, full_refresh=full_refresh,
                                    concurrency=concurrency, states=states)
            beat = _Heartbeat(extraction, destination, emit)
            client.on_unreachable = beat.unreachable(events.note)
            beat.start()
            try:
                extraction.run()
            finally:
                beat.cancel()
            finished = summarize(extraction, stop)
            if mode == "incremental" and all(r.refresh == "continued" for r in extraction.runs.values()):
                # Every stream finished (or went on with) a refresh an earlier run began: the row
                # in the history says so, not "incremental" over a table that was rebuilt.
                finished["mode"], finished["continued"] = "full_refresh", True
    except Exception as exc:  # noqa: BLE001 - any failure ends as a cause the user can act on, not a traceback
        finished = failed(exc, summarize(extraction, stop) if extraction is not None else None)
        emit("error", message=finished["error"], guidance=finished["guidance"], cause=finished["cause"])
    finally:
        if client is not None:
            finished.setdefault("requests", client.stats.requests)
            finished.setdefault("bytes", client.stats.bytes)
            finished.setdefault("retries", client.stats.retries)
            finished.setdefault("throttled", client.stats.throttled)
            client.close()
        finished["duration_s"] = round(time.monotonic() - started, 3)
        finished.setdefault("status", "failed")
        finished.setdefault("mode", mode)
        destination.end_run(run_id, finished, opened=opened, pipeline=pipeline, recipe=recipe or pipeline,
                            version=version, mode=mode)
        finished["storage_bytes"] = destination.storage_bytes()
        finished["destination"] = destination.location()
        emit("finished", **finished)
    return finished


def failed(exc: BaseException, partial: dict | None) -> dict:
    """The finished event of a run stopped by an exception: its cause, and what was committed."""
    found = cause_of(exc)
    finished = partial or {"records": 0, "errors": 0, "warnings": 0, "streams": {}, "dead_letters": 0}
    finished.update(status="failed", outcome="failed", cause=found, error=found["message"],
                    guidance=found["guidance"], errors=finished.get("errors", 0) + 1)
    for stream in finished.get("streams", {}).values():
        if stream.get("status") == "running":  # cut short by the failure
            stream["status"] = "failed"
    return finished


def summarize(extraction: Extraction, stop: threading.Event) -> dict:
    streams: dict[str, dict[str, Any]] = {}
    errors: list[dict] = []
    for name, r in extraction.runs.items():
        total = r.records + r.dead_letters
        if r.status == "success" and total and r.dead_letters / total > r.stream.max_bad_share:
            r.status = "failed"
            r.error = (f"{r.dead_letters} of {total} records of {name} failed validation, more than the "
                       f"{r.stream.max_bad_share:.0%} allowed. See _purelink.dead_letters for the reasons.")
            r.cause = {**cause("validation", r.error, "Look at the reasons in _purelink.dead_letters; drop "
                               "the check from the recipe if it does not fit the data, or raise max_bad_share.",
                               stream=name), "rejected": r.dead_letters, "total": total,
                       "allowed": r.stream.max_bad_share}
            extraction.errors += 1
            extraction.emit("error", stream=name, message=r.error, cause=r.cause)
        if r.status == "success" and (note := r.absent_note(extraction.pipeline)):
            extraction.warn(f"{name}: {note}", stream=name)
        query = rejected_query(extraction.run_id, name) if r.dead_letters else None
        if query and r.status != "failed":  # rejected rows are a warning the user can look at, never silent
            extraction.warn(f"{r.dead_letters:,} records of {name} were rejected, not loaded (each is kept with its "
                            f"reason in _purelink.dead_letters): {query}", stream=name)
        streams[name] = {"records": r.records, "dead_letters": r.dead_letters, "pages": r.pages,
                         "status": r.status, "error": r.error, "cause": r.cause, "committed": r.records,
                         "windows": r.windows_total, "rejected_query": query}
        if name in extraction.landed:  # the table its rows are in (another source may hold the default)
            streams[name]["table"] = extraction.landed[name]
        if r.status != "success" and extraction.staging(name):
            # A refresh that did not finish: its rows wait in the staging table, not in the table.
            streams[name].update(committed=0, staged=r.records)
        if r.refresh:
            streams[name]["refresh"] = r.refresh
        if r.error:
            errors.append(r.cause or {"kind": "runtime", "message": r.error, "guidance": "", "stream": name})
    statuses = {s["status"] for s in streams.values()}
    status = "failed" if "failed" in statuses else ("stopped" if stop.is_set() else "success")
    rejected = sum(s["dead_letters"] for s in streams.values())
    committed = sum(s["committed"] for s in streams.values())
    return {"status": status, "records": extraction.records, "committed": committed, "streams": streams,
            "dead_letters": rejected, "outcome": outcome(status, rejected),
            "errors": extraction.errors, "warnings": extraction.warnings,
            "schema_changes": extraction.schema_changes, "cause": errors[0] if errors else None,
            "error": errors[0]["message"] if errors else None,
            "guidance": errors[0]["guidance"] if errors else None, "progress": extraction.progress()}


def rejected_query(run_id: str, stream: str) -> str:
    """The SQL a user runs (`purelink inspect --query ...`) to see the rows a run rejected."""
    def text(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    return (f"SELECT reason, record FROM _purelink.dead_letters WHERE run_id = {text(run_id)} "
            f"AND stream = {text(stream)}")


def outcome(status: str, rejected: int) -> str:
    """The status as people read it: a success that dropped rows says so."""
    return f"success with {rejected:,} rejected" if status == "success" and rejected else status


class _Heartbeat(threading.Thread):
    def __init__(self, extraction: Extraction, destination: Destination, emit, every_s: float = 2.0) -> None:
        super().__init__(daemon=True, name="purelink-heartbeat")
        self.extraction, self.destination, self.emit, self.every_s = extraction, destination, emit, every_s
        self._done = threading.Event()
        self._wake = threading.Event()
        self._told_attempt = 0  # the retry the last heartbeat told of: a heartbeat at once for each new one

    def unreachable(self, note):
        """The client's `on_unreachable`: `note` for a person at a terminal, and a heartbeat at once
        when the retries reach a new attempt, so monitors that read only events hear it now, and
        hear it even when every request gives up within one heartbeat's interval."""
        def told(text: str, key: str) -> None:
            note(text, key)
            if self.extraction.client.waiting_attempt != self._told_attempt:
                self._wake.set()
        return told

    def run(self) -> None:
        while not self._done.is_set():
            self._wake.wait(self.every_s)
            self._wake.clear()
            if self._done.is_set():
                return
            x = self.extraction
            waiting, self._told_attempt = x.client.waiting, x.client.waiting_attempt
            fraction = x.progress()
            self.emit("heartbeat", records=x.records, requests=x.client.stats.requests,
                      throttled=x.client.stats.throttled, retries=x.client.stats.retries,
                      request_rate=round(x.client.stats.rate.per_second(), 1), bytes=x.client.stats.bytes,
                      progress=fraction, eta_s=x.eta(fraction), errors=x.errors, warnings=x.warnings,
                      storage_bytes=self.destination.storage_bytes(),
                      **({"waiting": waiting} if waiting else {}))

    def cancel(self) -> None:
        self._done.set()
        self._wake.set()


def main(source: RestSource, streams: list[Stream], *, pipeline: str, recipe: str | None = None,
         version: int = 1, db: str = "data/purelink.duckdb", airbyte_metadata: bool = False,
         warehouse: Destination | None = None, workspace: str | Path | None = None) -> None:
    """Command-line entry point of a generated module; exits with the run's status.

    `warehouse` (a `PostgresDestination`) receives the rows; without it they go to the DuckDB
    file `db`. A `--sample` run always writes to the DuckDB file it is given, never the warehouse.
    """
    def options(parser) -> None:
        parser.add_argument("--concurrency", type=int, help="parallel requests (default: the source's)")

    call = invocation(pipeline, streams, db=db, workspace=workspace, extra_options=options)
    destination = warehouse if warehouse is not None and not call.args.sample else \
        DuckDBDestination(call.db_path, airbyte_metadata=airbyte_metadata)
    # A person at a terminal hears within seconds that nothing answers at the URL; a scheduled or
    # piped run keeps the full retries, to ride out an API that is restarting.
    finish(run(source, call.streams, pipeline=pipeline, recipe=recipe, version=version, destination=destination,
               sample=call.args.sample, full_refresh=call.args.full_refresh, run_id=call.run_id,
               events=call.events(), stop=call.stop, concurrency=call.args.concurrency,
               retry=RetryPolicy.by_hand() if call.text else None))
