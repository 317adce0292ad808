"""The extraction's side of a staged full refresh (a mixin of `Extraction`).

`--full-refresh` no longer empties the table when it starts: where the destination stages
(DuckDB, the PostgreSQL warehouse; see destinations/staged_refresh), the stream's pages go to a
staging table and the table keeps its old rows until the refresh has read everything; then one
commit swaps the staged rows in and clears the `refreshing` state key. A run that stops, fails
or is killed half way leaves that key behind, so the next run, with or without --full-refresh,
knows the refresh is unfinished: it continues it (or, with the flag, starts it over).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from purelink.runtime.cursors import stamp
from purelink.runtime.destinations.base import Batch
from purelink.runtime.destinations.staged_refresh import stage_name
from purelink.runtime.windows import history_start

REFRESHING = "refreshing"  # state key: this stream's rows go to its staging table until the swap
TARGET = "table"  # state key: the table the stream's saved position belongs to
SLACK_S = 86400  # a cursor this far past now is no clock set back a little: it came from a record's future time
START = "start"  # state key: the history start (Unix seconds) a time-filtered stream's rows were read from


def moved(stream: str, schema: str, table: str, old: str) -> str:
    """The warning for a stream whose recipe now names another table than its saved position's."""
    return (f"{stream} now loads into {schema}.{table} (it loaded into {schema}.{old}, which is left as it "
            "was): read from the start, as a full refresh of the new table")


def ahead(stream: str, cursor: int) -> str:
    """The warning for a saved cursor past now (a record dated in the future carried it there, before
    cursors were held at the run's start): following it would skip everything until that date."""
    return (f"the saved cursor of {stream} reads {stamp(cursor)}, later than now (a record dated in the future carried "
            "it there): read from the start, as a full refresh of the stream, since following it would load "
            "nothing new until that date")


def earlier(stream: str, start: int, saved: int) -> str:
    """The warning for a stream whose recipe now reads history from before its saved rows began."""
    return (f"{stream} now reads history from {stamp(start)}, earlier than the {stamp(saved)} its saved rows "
            "were read from: read from the new start, as a full refresh of the stream")


class StagedRefresh:
    if TYPE_CHECKING:  # what Extraction provides
        from purelink.runtime.destinations.base import Destination
        from purelink.runtime.pages import StreamRun
        from purelink.runtime.sources.rest import Stream

        destination: Destination
        pipeline: str
        run_id: str
        full_refresh: bool
        runs: dict[str, StreamRun]
        source: Any
        schema_changes: int

        def warn(self, message: str, stream: str | None = None) -> None: ...
        def _fail(self, run: StreamRun, exc: Exception) -> None: ...
        def _batch(self, stream: Stream, rows=None, state=None) -> Batch: ...

    _staged: set[str]  # streams whose rows go to their staging table in this run
    _states: dict[str, dict]  # saved states the pipeline read before the run began (incremental runs)
    # streams read from the start without --full-refresh: their saved position no longer fits the recipe
    # (another table, an earlier history start), or they have no primary key to merge by (re-read
    # records would be appended again on every run)
    _from_start: set[str]
    _starts: dict[str, int]  # time-filtered streams: the history start their rows are read from (START)

    def _begin(self, stream, table: str) -> dict[str, Any]:
        """The stream's state at the start of its run, a refresh begun (or found unfinished)."""
        read = self._states.pop(stream.name, None)  # read by the pipeline for its `started` event
        state: dict[str, Any] = {}
        if not self.full_refresh:
            state = self.destination.load_state(self.pipeline, stream.name) if read is None else read
            why = self._unfit(stream, table, state)
            if why:
                self._from_start.add(stream.name)
                self.warn(why, stream=stream.name)
            if not stream.key and stream.time_filter is None:
                self._from_start.add(stream.name)  # its table replaced by what this run reads, as a reload
        if stream.time_filter is not None:  # an earlier start loads rows the saved ones lack; a later one none
            start, saved = history_start(stream.name, stream.start), state.get(START)
            self._starts[stream.name] = start if self.fresh(stream.name) or saved is None else min(start, saved)
        staged = False
        if self.fresh(stream.name):
            staged = self.destination.begin_refresh(self.pipeline, stream.name, self.source.name, table)
            state = self.destination.load_state(self.pipeline, stream.name)
        if staged or state.get(REFRESHING):
            self._staged.add(stream.name)
        return state

    def _unfit(self, stream, table: str, state: dict[str, Any]) -> str | None:
        """Why the saved position does not fit the recipe, if it does not: the recipe names another
        table (`into`), whose rows the old table's cursor says nothing of; the cursor lies past now;
        or the recipe reads history from an earlier start, whose rows before the old start a cursor
        past them would never read."""
        if state.get(TARGET) not in (None, table):
            return moved(stream.name, self.source.name, table, state[TARGET])
        cursor = (state.get("cursor") or {}).get("value")
        if stream.time_filter is not None and isinstance(cursor, int | float) and cursor > time.time() + SLACK_S:
            return ahead(stream.name, int(cursor))
        saved = state.get(START)
        if stream.time_filter is not None and saved is not None:
            start = history_start(stream.name, stream.start)
            if start < saved:
                return earlier(stream.name, start, saved)
        return None

    def fresh(self, stream_name: str) -> bool:
        """The stream is read from the start in this run: --full-refresh, a new target table, an earlier
        history start, or no key."""
        return self.full_refresh or stream_name in self._from_start

    def _refresh_state(self, stream_name: str) -> dict[str, Any]:
        """What the first commit of a stream's sync records beside its windows: the table they
        fill, the history start they read from, and whether it is refreshing."""
        stream = self.runs[stream_name].stream
        return {TARGET: stream.table or stream.name, **({REFRESHING: True} if stream_name in self._staged else {}),
                **({START: self._starts[stream_name]} if stream_name in self._starts else {})}

    def staging(self, stream_name: str) -> bool:
        """The stream's rows go to its staging table in this run (a full refresh, begun or continued)."""
        return stream_name in self._staged

    def _table_of(self, stream) -> str:
        """Where the stream's pages load: its table, or its staging table while it refreshes."""
        table = stream.table or stream.name
        return stage_name(table) if stream.name in self._staged else table

    def _swap_refreshed(self) -> None:
        """Each refresh that read everything replaces its table; one that did not leaves the table
        as it was, and says so."""
        for run in self.runs.values():
            name = run.stream.name
            if name not in self._staged:
                if self.fresh(name) and run.status != "success":  # a destination that does not stage
                    self.warn(f"the full refresh of {name} did not finish: its table holds only the rows loaded "
                              "so far; run the recipe again to complete the refresh", stream=name)
                continue
            if run.status != "success":
                self.warn(f"the full refresh of {name} did not finish: its table keeps its old rows (the "
                          f"{run.records:,} new row(s) wait in a staging table); run the recipe again to "
                          "complete the refresh", stream=name)
                continue
            table = run.stream.table or run.stream.name
            swap = self._batch(run.stream, state={REFRESHING: None})
            swap.table, swap.replaces = table, stage_name(table)
            try:
                for change in self.destination.commit([swap], run_id=self.run_id, extracted_at=datetime.now(UTC)):
                    self.schema_changes += 1
                    self.warn(change.message(), stream=change.stream)
            except Exception as exc:  # noqa: BLE001 - the stream fails with its cause; the old rows stay
                self._fail(run, exc)
