"""Commits on a thread of their own, so that fetching never waits for the destination.

The profile of a 20,000-record run showed the extraction loop spending most of its time inside
`Destination.commit` (turning rows into Arrow, DELETE + INSERT, the state rows): while it
committed one page, pages that had arrived waited to be read and their windows' next requests
waited to be sent, so the rate limit went unused. Here one writer thread commits while the loop
goes on fetching; the pages that arrive meanwhile wait in `waiting` and go together in the next
transaction, which also spreads each commit's fixed cost over more rows when the writer is the
slower side.

What the runtime guarantees is unchanged: one transaction at a time, in the order the pages were
handed over, each carrying the rows and the state they advance. Only the commit runs on the
writer thread; whatever follows it (events, counters, a stream's failure) is done by the loop's
own thread in `settle`, so none of the extraction's bookkeeping is shared between threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from purelink.runtime.destinations.base import Batch
from purelink.runtime.errors import RuntimeFailure

#: pages fetched but not yet committed beyond which the loop waits for the writer: memory stays
#: flat when the destination is the slower side, whatever the size of the source
MAX_WAITING_PAGES = 64


@dataclass
class Job:
    """Pages handed to the writer, and the windows their commit closes."""

    batches: list[Batch] = field(default_factory=list)
    finished: list = field(default_factory=list)  # (StreamRun, Window) pairs
    future: Future | None = None


class Writer:
    def __init__(self, commit) -> None:
        self._commit = commit  # callable(batches) -> schema changes, run on the writer thread
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="purelink-writer")
        self.waiting = Job()
        self.running: Job | None = None

    def add(self, batches: Sequence[Batch], finished: list) -> None:
        self.waiting.batches.extend(batches)
        self.waiting.finished.extend(finished)

    @property
    def busy(self) -> bool:
        return self.running is not None or bool(self.waiting.batches)

    @property
    def full(self) -> bool:
        return len(self.waiting.batches) >= MAX_WAITING_PAGES

    def drop(self, failed) -> None:
        """Forget the waiting pages of streams that failed meanwhile, as pages fetched after a
        stream's failure always were."""
        self.waiting.batches = [b for b in self.waiting.batches if not failed(b.stream)]
        self.waiting.finished = [(r, w) for r, w in self.waiting.finished if not failed(r.stream.name)]

    def futures(self) -> list[Future]:
        return [self.running.future] if self.running is not None and self.running.future is not None else []

    def start(self) -> None:
        """Send what waits, when the writer is free."""
        if self.running is None and self.waiting.batches:
            job, self.waiting = self.waiting, Job()
            job.future = self._pool.submit(self._commit, job.batches)
            self.running = job

    def take(self, block: bool = False) -> Job | None:
        """The commit that has ended (waiting for it if `block`), for the loop to settle."""
        job = self.running
        if job is None or job.future is None or (not block and not job.future.done()):
            return None
        job.future.exception()  # waits; the result or the error is read by the caller
        self.running = None
        return job

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class Committing:
    """The extraction's side of the writer (a mixin of `Extraction`, which holds `writer`,
    `destination`, `runs` and the reporting methods used here)."""

    if TYPE_CHECKING:  # what Extraction provides
        from purelink.runtime.destinations.base import Destination
        from purelink.runtime.pages import StreamRun

        writer: Writer
        destination: Destination
        run_id: str
        runs: dict[str, StreamRun]
        schema_changes: int

        def warn(self, message: str, stream: str | None = None) -> None: ...
        def _fail(self, run: StreamRun, exc: Exception) -> None: ...
        def _after_commit(self, batch: Any) -> None: ...
        def _window_done(self, run: StreamRun, window: Any) -> None: ...

    def _flush(self) -> None:
        """Everything fetched committed before the run ends (or stops)."""
        while self.writer.busy:
            self._settle(block=True)

    def _settle(self, block: bool = False) -> None:
        """Settle the commit that ended (on this thread: events, counters, failures), then hand
        the writer what has arrived since."""
        job = self.writer.take(block=block)
        if job is not None:
            self._settle_job(job)
        self.writer.drop(lambda stream: self.runs[stream].status == "failed")
        if self.writer.running is None:
            self.destination.between_commits()
        self.writer.start()

    def _settle_job(self, job: Job) -> None:
        committed = self._commit(job.batches, job.future)
        for run, window in job.finished:
            if run.stream.name in committed:
                self._window_done(run, window)

    def _write(self, batches: list[Batch]):
        """On the writer thread: the commit alone."""
        return self.destination.commit(batches, run_id=self.run_id, extracted_at=datetime.now(UTC))

    def _commit(self, batches: list[Batch], future: Future | None) -> set[str]:
        """The writer's commit of these pages; when it failed, each stream's pages alone, so the
        stream whose data the destination refuses fails with that cause and the others load.
        Returns the streams whose pages were committed."""
        if not batches:
            return set()
        try:
            if future is None:
                raise RuntimeFailure("A commit was settled before it was started.",
                                     "This is a bug in Purelink: please report it with the run's event log.")
            changes = future.result()
        except RuntimeFailure:
            raise
        except Exception:  # noqa: BLE001 - any refusal: the per-stream commits below say whose data it was
            if len({b.stream for b in batches}) == 1:
                return self._commit_alone(batches)
        else:
            self._committed(batches, changes)
            return {b.stream for b in batches}
        committed: set[str] = set()
        for name in dict.fromkeys(b.stream for b in batches):
            committed |= self._commit_alone([b for b in batches if b.stream == name])
        return committed

    def _commit_alone(self, batches: list[Batch]) -> set[str]:
        """One stream's pages, each in its own transaction and in order, up to the first the
        destination refuses: every page it accepts is kept, as when pages came one at a time."""
        for batch in batches:
            try:
                changes = self.destination.commit([batch], run_id=self.run_id, extracted_at=datetime.now(UTC))
            except RuntimeFailure:
                raise
            except Exception as exc:  # noqa: BLE001 - the destination refused this stream's data
                self._fail(self.runs[batch.stream], exc)
                return set()
            self._committed([batch], changes)
        return {batches[0].stream}

    def _committed(self, batches: list[Batch], changes) -> None:
        for change in changes:
            self.schema_changes += 1
            self.warn(change.message(), stream=change.stream)
        for batch in batches:
            self._after_commit(batch)

    def _idle(self) -> None:
        """The commit under way ended and settled, nothing new started: for a commit made on
        this thread (a dead page), which must not share the connection with the writer's."""
        job = self.writer.take(block=True)
        if job is not None:
            self._settle_job(job)
