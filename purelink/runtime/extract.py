"""The extraction loop: windows paged concurrently, pages committed with their state.

Worker threads only fetch pages. The calling thread owns the destination: it takes the pages
that are ready, commits them together with the state they advance in one transaction, and
schedules each window's next page. Fetching and writing overlap; ordering per window holds
because a window's next page is only requested once its previous page has arrived.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from purelink.runtime.auth import secret_names
from purelink.runtime.causes import cause_of
from purelink.runtime.cursors import closing_state
from purelink.runtime.destinations.base import Batch, Claim, Destination, generation_of
from purelink.runtime.estimate import Estimating, densities_at_hi, density_at_cut
from purelink.runtime.formats import apply_formats
from purelink.runtime.http import BadBody, HttpClient, HttpError, Stopped
from purelink.runtime.pages import Page, PageBatch, StreamRun, records_of, tail_without_cursor
from purelink.runtime.paginators import PageError, PageRequest
from purelink.runtime.records import dedupe, select
from purelink.runtime.refresh import StagedRefresh
from purelink.runtime.sources.rest import RestSource, Stream
from purelink.runtime.stream_errors import describe_failure
from purelink.runtime.validate import first_failure, names_need_checking, printable, record_problem
from purelink.runtime.windows import Window, cut, history_start, ranges, to_unix
from purelink.runtime.writer import Committing, Writer

MIN_SPLIT_S = 2


class Extraction(Committing, Estimating, StagedRefresh):
    def __init__(self, source: RestSource, streams: list[Stream], destination: Destination, *,
                 pipeline: str, run_id: str, client: HttpClient, emit, stop: threading.Event,
                 full_refresh: bool = False, concurrency: int | None = None,
                 states: dict[str, dict] | None = None) -> None:
        self.source = source
        self.destination = destination
        self.pipeline = pipeline
        self.run_id = run_id
        self.client = client
        self.emit = emit
        self.stop = stop
        self.full_refresh = full_refresh
        self.concurrency = max(1, concurrency or source.concurrency)
        self.runs = {s.name: StreamRun(s) for s in streams}
        self.writer = Writer(self._write)
        self.started = time.monotonic()
        self.records = self.warnings = self.errors = self.schema_changes = 0
        self._covered_before: dict[str, int] = {}
        self.landed: dict[str, str] = {}  # stream -> "schema.table" its rows load into (`claim`)
        self._staged, self._from_start = set(), set()  # streams refreshing through a staging table; read whole
        self._starts: dict[str, int] = {}  # each time-filtered stream's history start, saved with its state
        self._plans: list[Batch] = []  # each stream's starting state, committed by `_commit_plans`
        self._states = dict(states or {})  # each stream's saved state, when the caller read it already
        client.on_throttle = self.warn
        if source.retry_budget_s is not None:
            client.retry.throttle_budget_s = source.retry_budget_s

    # -- planning ---------------------------------------------------------------------------
    def plan(self, run: StreamRun) -> list[Window]:
        """The windows still to read: resumed from saved state or cut for a new sync."""
        s = run.stream
        table = s.table or s.name
        state = self._begin(s, table)
        run.refresh = "full" if self.fresh(s.name) else ("continued" if s.name in self._staged else None)
        run.generation = generation_of(state.get("generation"), rebuilt=self.fresh(s.name))
        sync = state.get("sync")
        if sync:
            windows = [Window.from_state(s.name, k, v) for k, v in state.items() if k.startswith("window:")]
            run.sync_hi, run.began = sync.get("hi"), sync.get("began")
            run.progress.total = sync.get("span", 0)
            run.progress.covered = run.progress.total - sum(w.remaining() for w in windows)
            what = "full refresh" if run.refresh == "continued" else "sync"
            self.warn(stream=s.name, message=(
                f"continuing the {what} of {s.name} an earlier run began and did not finish (it failed or was "
                f"stopped): {len(windows)} window(s) left, and what it committed is kept"))
            return self._register(run, windows, state_sync=None)
        tf = s.time_filter
        cursor = (state.get("cursor") or {}).get("value")
        if tf is None:
            return self._register(run, [Window(s.name, None, None)], state_sync={"hi": None, "span": 0})
        lo = (cursor - s.lookback_s) if cursor is not None else history_start(s.name, s.start)
        if tf.lt is None:  # its cursor never passes the time it began (see cursors.held)
            run.began = int(time.time())
            return self._register(run, [Window(s.name, lo, None)], state_sync={"hi": None, "span": 0,
                                                                                "began": run.began})
        hi = int(time.time()) + 1
        run.sync_hi = hi
        run.progress.total = max(0, hi - lo)
        # A first sync is cut for every worker at once; an incremental one starts as one window
        # (usually one request when nothing changed) and splits only if it turns out dense.
        parts = 1 if cursor is not None else self.concurrency
        windows = cut(s.name, lo, hi, parts) if hi > lo else []
        return self._register(run, windows, state_sync={"hi": hi, "lo": lo, "span": run.progress.total})

    def _register(self, run: StreamRun, windows: list[Window], state_sync: dict | None) -> list[Window]:
        run.windows = {w.id: w for w in windows}
        run.windows_total = len(windows)
        if state_sync is not None:
            state: dict[str, Any] = {"sync": state_sync, "generation": run.generation,
                                     **self._refresh_state(run.stream.name)}
            state.update({w.key: w.to_state() for w in windows})
            if not windows:
                state = {"sync": None, "generation": run.generation, **self._refresh_state(run.stream.name)}
            self._plans.append(self._batch(run.stream, state=state))
        return windows

    def _commit_plans(self) -> None:
        """Every stream's starting state in one transaction, while the first requests are on their way.
        Safe: no page commits before it."""
        plans, self._plans = self._plans, []
        if plans:
            self.destination.commit(plans, run_id=self.run_id, extracted_at=datetime.now(UTC))

    def first_request(self, stream: Stream, window: Window) -> PageRequest:
        params = {**stream.params}
        if stream.time_filter is not None:
            params = stream.time_filter.apply(params, window.lo, window.hi)
        return self._paginator(stream).first(stream.path, params)

    def _paginator(self, stream: Stream):
        return stream.paginator or self.source.paginator

    # -- fetching (worker threads) ------------------------------------------------------------
    def fetch(self, stream: Stream, window: Window, request: PageRequest) -> Page:
        paginator = self._paginator(stream)
        response, body, suspect = paginator.fetch(self.client, request)
        path = stream.records_path if stream.records_path is not None else self.source.records_path
        records = records_of(response, body, path)
        notes: list = []
        nxt = paginator.next(request, response, body, records,
                             warn=lambda kind, message: notes.append((kind, message)))
        if stream.time_filter is None:
            nxt = window.next_in_list(paginator, request, records, nxt, notes)
        return Page(window, request, records, nxt, len(response.content), suspect, notes, body)

    # -- the loop ------------------------------------------------------------------------------
    def claim(self) -> None:
        """Every target checked and its owner recorded before the first request: a default name
        another source holds gives way to one naming this source (see `check_claims`)."""
        source = self.source.identity()
        claims = [Claim(stream=s.name, schema=self.source.name, table=s.table or s.name, pipeline=self.pipeline,
                        source=source, source_table=s.path, chosen=s.table not in (None, s.name))
                  for s in (run.stream for run in self.runs.values())]
        for claim in self.destination.claim_tables(claims, self.run_id):
            self.landed[claim.stream] = f"{claim.schema}.{claim.table}"
            stream = self.runs[claim.stream].stream
            if claim.table != (stream.table or stream.name):
                stream.table = claim.table
            if claim.renamed_from:
                self.warn(claim.note(), stream=stream.name)

    def run(self) -> None:
        self.claim()
        ready: deque[tuple[StreamRun, Window]] = deque()
        for run in self.runs.values():
            for window in self.plan(run):
                ready.append((run, window))
            self._covered_before[run.stream.name] = run.progress.covered  # a resumed sync's earlier share
            if not run.windows:
                run.status = "success"
        pending: dict[Future, tuple[StreamRun, Window]] = {}
        try:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="purelink") as pool:
                self._submit(pool, ready, pending)
                self._commit_plans()
                self._loop(pool, ready, pending)
            self._flush()
        finally:
            self.writer.close()
        for run in self.runs.values():
            if run.status == "running":
                run.status = "stopped" if self.stop.is_set() and run.windows else "success"
        self._swap_refreshed()  # a finished refresh replaces its table; an unfinished one leaves it as it was

    def _loop(self, pool, ready: deque, pending: dict) -> None:
        writer = self.writer
        while ready or pending:
            self._submit(pool, ready, pending)
            if not pending:
                break
            done, _ = wait([*pending, *writer.futures()], timeout=1.0, return_when=FIRST_COMPLETED)
            batches, finished = [], []
            for future in done:
                if future not in pending:
                    continue  # the writer's: settled below
                run, window = pending.pop(future)
                try:
                    page = future.result()
                    if run.status == "failed":
                        continue
                    batches.append(self._page_batch(run, page, ready, idle=len(pending) + len(ready)))
                except Stopped:
                    continue  # never sent: the window's saved request is where a later run resumes
                except Exception as exc:  # noqa: BLE001 - whatever one stream meets stops that stream only
                    self._fail(run, exc, resumed=window.resumed and not window.pages)
                    continue
                for kind, message in page.notes:
                    self._paging_warning(run, kind, message)
                if page.next is None:
                    finished.append((run, window))
            # Next pages leave before anything is committed, and the commit runs on the writer's
            # thread (see purelink.runtime.writer): fetching goes on while the destination writes.
            # Safe, since commits stay in order and a page's state names the request after it.
            self._submit(pool, ready, pending)
            writer.add(batches, finished)
            self._settle(block=writer.full)
            if self.stop.is_set() and not pending:
                break

    def _paging_warning(self, run: StreamRun, kind: str, message: str) -> None:
        if kind not in run.warned:  # once per stream and kind: every page of a filtered list is short
            run.warned.add(kind)
            self.warn(f"{run.stream.name}: {message}", stream=run.stream.name)

    def _submit(self, pool, ready: deque, pending: dict) -> None:
        while ready and len(pending) < self.concurrency and not self.stop.is_set():
            run, window = ready.popleft()
            if run.status == "failed":
                continue
            request = window.next or self.first_request(run.stream, window)
            pending[pool.submit(self.fetch, run.stream, window, request)] = (run, window)

    def _page_batch(self, run: StreamRun, page: Page, ready: deque, idle: int) -> PageBatch:
        s, window = run.stream, page.window
        tf = s.time_filter
        rows, dead = [], []
        check_names = s.columns is None and names_need_checking(page.records)
        time_cols, untimely = s.time_columns, set()
        run.look(page.records)
        for record in page.records:
            reason = (record_problem(record, s.key, check_text=page.suspect_text, check_names=check_names)
                      or first_failure(record, s.validations))
            if reason:
                dead.append((reason, printable(record)))
            else:
                row, bad = apply_formats(select(record, s.columns_with_key), time_cols)
                rows.append(row)
                untimely.update(bad)
        if untimely:
            self._paging_warning(run, "format", f"{', '.join(sorted(untimely))}: values that are not Unix times "
                                 "were loaded as NULL (the connector spec declares these fields as timestamps)")
        state: dict[str, Any] = {}
        if tf is not None and page.records:
            times = [t for t in (to_unix(r.get(tf.field)) for r in page.records if isinstance(r, dict))
                     if t is not None]
            if times:
                run.progress.covered += window.read(times)
        elif tf is not None and page.next is None:
            window.density = 0.0  # an empty last page: nothing more in this window
        window.advance(page, s.key, ranged=tf is None, pages=run.page_keys)
        window.pages += 1
        children: list[Window | None] = [*self._spread(run, window, page)] or [self._maybe_split(run, window, idle)]
        for child in filter(None, children):
            state[child.key] = child.to_state()
            ready.append((run, child))
        if page.next is None:
            closing, note = closing_state(run, window)
            state.update(closing)
            if note:
                self.warn(note, stream=s.name)
        else:
            state[window.key] = window.to_state()
            ready.append((run, window))
        run.pages += 1
        rows = dedupe(rows, s.key)
        repeated = sum(tuple(r.get(k) for k in s.key) in window.repeat_keys for r in rows) if window.repeat_keys else 0
        window.repeat_keys = tail_without_cursor(self._paginator(s), s.key, page)
        run.fetched += len(rows) - repeated
        return PageBatch(pipeline=self.pipeline, stream=s.name, schema=self.source.name,
                         table=self._table_of(s), primary_key=s.key, rows=rows,
                         dead_letters=dead, state=state, window=window, nbytes=page.nbytes,
                         generation=run.generation, repeated=repeated, times=time_cols)

    def _maybe_split(self, run: StreamRun, window: Window, busy: int) -> Window | None:
        """Give idle workers half of what is left of a dense window (newest-first paging only)."""
        s, tf = run.stream, run.stream.time_filter
        if (window.next is None or tf is None or tf.lt is None or tf.order != "desc"
                or not self._paginator(s).keyed_by_record or busy >= self.concurrency
                or tf.gte is None or window.lo is None or window.position is None):
            return None
        if window.position - window.lo < MIN_SPLIT_S:
            return None
        # Each split ends in one more partial page: only worth it with a few full pages per half.
        left = (window.position - window.lo) * (window.density or float("inf"))
        if left < 4 * self._paginator(s).page_size:
            return None
        mid = window.lo + (window.position - window.lo) // 2
        child = Window(s.name, window.lo, mid)
        child.density = density_at_cut(window, mid, densities_at_hi(run).get(window.lo))
        child.next = self.first_request(s, child)
        window.lo = mid
        window.next = PageRequest(window.next.url, {**window.next.params, tf.gte: tf.encode(mid)})
        run.windows[child.id] = child
        run.windows_total += 1
        return child

    def _spread(self, run: StreamRun, window: Window, page: Page) -> list[Window]:
        """Once a numbered list's first page tells how many pages there are, the rest is cut in
        ranges fetched in parallel, each a window of its own (its state saved with this page, so a
        killed run resumes every range where it was); this page's window ends here."""
        s, paginator = run.stream, self._paginator(run.stream)
        spread = getattr(paginator, "spread", None)
        if (spread is None or s.time_filter is not None or window.lo is not None or window.pages != 1
                or page.next is None or self.concurrency < 2):
            return []
        plan = spread(page.request, page.body)
        parts: list[tuple[int, int | None]] = []
        if plan and plan[0] == paginator.position(page.next):
            first, end, step = plan
            parts = ranges(first, end, step, parts=self.concurrency)
        if len(parts) < 2:
            return []
        children = [Window(s.name, lo, hi, next=paginator.at(page.next, lo), until=end) for lo, hi in parts]
        run.windows.update((child.id, child) for child in children)
        run.windows_total += len(children)
        page.next = window.next = None
        return children

    def _batch(self, stream: Stream, rows=None, state=None) -> Batch:
        return Batch(pipeline=self.pipeline, stream=stream.name, schema=self.source.name,
                     table=self._table_of(stream), primary_key=stream.key, rows=rows or [],
                     state=state or {}, selected=stream.columns is not None, times=stream.time_columns,
                     generation=self.runs[stream.name].generation)

    def _after_commit(self, batch: PageBatch) -> None:
        run = self.runs[batch.stream]
        fresh = len(batch.rows) - batch.repeated  # a record read again is counted once
        run.records += fresh
        run.dead_letters += len(batch.dead_letters)
        self.records += fresh
        elapsed = max(time.monotonic() - self.started, 1e-6)
        fraction = run.progress.fraction()
        self.emit("page", stream=batch.stream, window=batch.window.id, records=fresh,
                  dead_letters=len(batch.dead_letters), bytes=batch.nbytes, stream_records=run.records,
                  total_records=self.records, requests=self.client.stats.requests, throttled=self.client.stats.throttled,
                  request_rate=round(self.client.stats.rate.per_second(), 1),
                  records_per_s=round(self.records / elapsed, 1), progress=fraction, eta_s=self.eta(fraction),
                  estimated_total=self.estimated_total(run))

    def _window_done(self, run: StreamRun, window: Window) -> None:
        run.windows_done += 1
        fraction = run.progress.fraction()
        if fraction is None:
            fraction = run.windows_done / max(1, run.windows_total)
        self.emit("window_done", stream=run.stream.name, window=window.id, lo=window.lo, hi=window.hi,
                  windows_done=run.windows_done, windows_total=run.windows_total,
                  progress=round(fraction, 4), eta_s=self.eta(fraction))

    def warn(self, message: str, stream: str | None = None) -> None:
        self.warnings += 1
        self.emit("warning", message=message, stream=stream)

    def _fail(self, run: StreamRun, exc: Exception, resumed: bool = False) -> None:
        """Stop this stream with its cause; a page that could not be read is kept as a dead letter."""
        if run.status == "failed":  # other windows of a dead API fail alike: say it once per stream
            return
        self.errors += 1
        run.status = "failed"
        run.cause = cause_of(exc, stream=run.stream.name)
        if isinstance(exc, (BadBody, PageError, HttpError)):  # what the API did, in the user's words
            run.cause["message"], run.cause["guidance"] = describe_failure(
                exc, run.stream.name, secret_names(self.source.auth), resumed=resumed)
        run.error, run.guidance = run.cause["message"], run.cause["guidance"]
        if isinstance(exc, (BadBody, PageError)) or (isinstance(exc, HttpError) and exc.status >= 500):
            self._dead_page(run, exc)  # a page the retries could not get: kept with its URL
        self.emit("error", stream=run.stream.name, message=run.error, guidance=run.guidance, cause=run.cause,
                  status=getattr(exc, "status", None))
        if isinstance(exc, HttpError) and exc.status == 401:
            self.stop.set()  # a rejected key fails every stream alike: stop at once

    def _dead_page(self, run: StreamRun, exc: Exception) -> None:
        page = {"url": getattr(exc, "url", None), "status": getattr(exc, "status", None),
                "content_type": getattr(exc, "content_type", None), "body_begins": getattr(exc, "head", None)}
        batch = self._batch(run.stream)
        batch.dead_letters = [(f"page could not be read: {exc}", page)]
        self._idle()  # one connection: the writer's commit ends before this one starts
        try:
            self.destination.commit([batch], run_id=self.run_id, extracted_at=datetime.now(UTC))
            run.dead_letters += 1
        except Exception as error:  # noqa: BLE001 - the stream's own error is what the user needs
            self.warn(f"the unreadable page was not kept: {error}", stream=run.stream.name)
