"""How far a run is, in figures a person can trust: the progress model behind both monitors.

`RunProgress` is fed the runtime's events (in any order windows finish) and answers: records
done, the total (exact when the API says it, "about N" when estimated), a percentage that never
goes back, an ETA from a smoothed record rate, the request rate measured the way the source's
limit is defined, error / warning / rejected-row counts, and the storage size and location.
It knows nothing of terminals or widgets; `purelink.execution.console` and
`purelink_jupyter.monitor` draw it.

The total ("about N" until it is known) comes from `purelink.runtime.expected`, which says
where each figure comes from and how far it is trusted; a module run by hand in a terminal
prints the same.

    progress = RunProgress(previous_records=3421)
    for event in events:
        progress.apply(event)
    progress.progress_text()   # "1,247/about 3,400 (36%)"
"""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime

from purelink.execution.progress_text import RATE_WINDOW_S, ProgressText
from purelink.execution.units import duration_text, human_bytes
from purelink.runtime.events import DEFAULT_BURST_S
from purelink.runtime.expected import Expected

__all__ = ["RunProgress", "duration_text", "human_bytes"]

DONE = ("success", "failed", "stopped")
SPEED_WINDOW_S = 15.0  # the record rate behind the ETA: recent enough to follow, long enough to be calm


class RunProgress(ProgressText):
    """The figures of one run, folded from its events. Call `apply(event)` for each event."""

    def __init__(self, *, previous_records: int | None = None, rate_limit: float | None = None,
                 limit_period_s: float = 1.0, clock=time.monotonic) -> None:
        self.expected = Expected(previous_records)
        self.rate_limit = rate_limit
        self.burst_s = DEFAULT_BURST_S  # what the runtime lets through at once, until `started` says
        self.limit_period_s = limit_period_s
        self.clock = clock
        self.status = "starting"
        self.run_id = ""
        self.pipeline = ""
        self.mode = ""
        self.location = ""
        self.records = self.requests = self.errors = self.warnings = self.rejected = 0
        self.throttled = 0  # requests the API answered 429 so far ...
        self._throttled_at: float | None = None  # ... and when that count last grew (run's clock)
        self.storage_bytes: int | None = None
        self.cause: str | None = None
        self.finished: dict | None = None
        self._runtime_fraction: float | None = None  # overall time coverage, from heartbeats
        self._shown = 0.0  # the percentage shown so far: it only grows
        self._t0: float | None = None
        self._last_t: float | None = None
        self._last_local: float | None = None
        self._speed: deque[tuple[float, int]] = deque()
        self._calls: deque[tuple[float, int]] = deque()
        self._paused_at: float | None = None
        self._pauses: list[tuple[float, float]] = []  # (from, to) on the run's clock
        self.pages = 0
        self.waiting: str | None = None  # from heartbeats: requests that get no answer, retried
        self.page_size = 0  # the most records a page brought: the API's page size
        self._page_marks: deque[tuple[float, int]] = deque()
        self._open: set[str] = set()  # windows seen paging and not done yet

    # -- feeding ----------------------------------------------------------------------------------
    def apply(self, event: dict) -> None:
        kind = event.get("event")
        t = self._time(event)
        self.expected.apply(event)
        if kind == "started":
            self.status, self.run_id = "running", event.get("run_id", "")
            self.pipeline, self.mode = event.get("pipeline", ""), event.get("mode", "")
            self.location = event.get("destination") or self.location
            if event.get("rate_limit"):
                self.rate_limit = float(event["rate_limit"])
            self.burst_s = float(event.get("burst_s") or self.burst_s)
            self._t0 = t
            self._page_marks.append((t, 0))
            self._speed.append((t, 0))
            self._calls.append((t, 0))
        elif kind == "page":
            self.waiting = None
            self.rejected += int(event.get("dead_letters") or 0)
            self.page_size = max(self.page_size, int(event.get("records") or 0))
            if event.get("window"):
                self._open.add(event["window"])
            self.pages += 1
            if self._paused_at is None:
                self._page_marks.append((t, self.pages))
            self._count(t, event.get("total_records"), event.get("requests"), event.get("throttled"))
        elif kind == "heartbeat":
            self.waiting = event.get("waiting")  # the API does not answer: what the run is doing about it
            if event.get("progress") is not None:
                self._runtime_fraction = float(event["progress"])
            self.errors = max(self.errors, int(event.get("errors") or 0))
            self.warnings = max(self.warnings, int(event.get("warnings") or 0))
            if event.get("storage_bytes") is not None:
                self.storage_bytes = int(event["storage_bytes"])
            self._count(t, event.get("records"), event.get("requests"), event.get("throttled"))
        elif kind == "window_done":
            self._open.discard(event.get("window"))
        elif kind == "warning":
            self.warnings += 1
        elif kind == "error":
            self.errors += 1
            self.cause = self.cause or event.get("message")
        elif kind == "finished":
            self._finish(event)
        self._advance()

    def _finish(self, event: dict) -> None:
        self.finished = event
        self.status = event.get("status") or "failed"
        self.records = int(event.get("records", self.records) or 0)
        self.requests = int(event.get("requests", self.requests) or 0)
        self.errors = max(self.errors, int(event.get("errors") or 0))
        self.warnings = max(self.warnings, int(event.get("warnings") or 0))
        self.rejected = max(self.rejected, int(event.get("dead_letters") or 0))
        if event.get("storage_bytes") is not None:
            self.storage_bytes = int(event["storage_bytes"])
        self.location = event.get("destination") or self.location
        cause = event.get("cause") or {}
        self.cause = cause.get("message") or event.get("error") or self.cause

    def _time(self, event: dict) -> float:
        """Seconds on the run's own clock: the event's timestamp, so figures do not depend on when
        a slow reader (a busy notebook) happened to see the event."""
        self._last_local = self.clock()
        try:
            t = datetime.fromisoformat(event["ts"]).timestamp()
        except (KeyError, TypeError, ValueError):
            t = self._last_local
        self._last_t = t if self._last_t is None else max(self._last_t, t)
        return self._last_t

    def _count(self, t: float, records, requests, throttled=None) -> None:
        if throttled is not None and int(throttled) > self.throttled:
            self.throttled, self._throttled_at = int(throttled), t
        if records is not None and int(records) >= self.records:
            self.records = int(records)
            if self._paused_at is None:
                self._speed.append((t, self.records))
        if requests is not None and int(requests) >= self.requests:
            self.requests = int(requests)
            self._calls.append((t, self.requests))

    # -- pausing (the monitor knows; the runtime's events simply stop) --------------------------
    def pause(self) -> None:
        self._paused_at = self._now()
        if not self.done:
            self.status = "paused"

    def resume(self) -> None:
        """The time spent paused is not time the run was slow: the record rate starts afresh, and so
        does the request rate (the answers to requests on their way at the pause came during it,
        and with the bucket's burst saved up meanwhile they read as over the limit)."""
        now = self._now()
        if self._paused_at is not None:
            self._pauses.append((self._paused_at, now))
        self._paused_at = None
        if not self.done:
            self.status = "running"
        self._speed = deque([(now, self.records)])
        self._page_marks = deque([(now, self.pages)])
        if self._calls:
            self._calls = deque([(now, self._calls[-1][1])])

    def stopping(self) -> None:
        if not self.done:
            self.status = "stopping"

    def _now(self) -> float:
        """The run's clock now: the last event's time plus what passed since it was seen."""
        if self._last_t is None:
            return self.clock()
        return self._last_t + (self.clock() - (self._last_local or self.clock()))

    # -- the figures ------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.status in DONE

    def total(self) -> tuple[int | None, bool]:
        """(total records, is it an estimate). None while nothing allows a guess."""
        if self.status == "success":
            return self.records, False
        return self.expected.total(self.records)

    def _advance(self) -> None:
        if self.status == "success":
            self._shown = 1.0
            return
        total, _ = self.total()
        if total:
            raw = self.records / total
        elif self.expected.runtime_sizes:
            return  # no total yet: the time covered is no measure of the records done
        elif self._runtime_fraction is not None:
            raw = self._runtime_fraction
        else:
            return
        # Never backwards, and never "100%" before the run says it is done.
        self._shown = max(self._shown, min(raw, 0.99))

    def fraction(self) -> float:
        """The share shown: monotonic, 1.0 only once the run succeeded."""
        return self._shown

    def records_per_s(self) -> float | None:
        return _rate(self._speed, max(SPEED_WINDOW_S, self._elapsed() / 3))

    def eta_s(self) -> float | None:
        """Seconds left, counted down between events: the pages still to fetch (remaining records
        in full pages, plus the last partial page of each open window) at the recent page rate.
        Pages, not records: a run that began with empty windows fetched pages with no records,
        and its record rate then understates how fast the rest will come. Without a known page
        size, the remaining records at the recent record rate."""
        if self.done:
            return 0.0
        total, _ = self.total()
        if not total or self._elapsed() < 2:
            return None
        remaining = max(0, total - self.records)
        page_rate = _rate(self._page_marks, max(SPEED_WINDOW_S, self._elapsed() / 3))
        if self.page_size and page_rate:
            left = (remaining / self.page_size + (len(self._open) if remaining else 0)) / page_rate
            marks = self._page_marks
        else:
            speed = self.records_per_s()
            if not speed:
                return None
            left, marks = remaining / speed, self._speed
        if self._paused_at is None and self._last_t is not None and marks:
            left -= max(0.0, self._now() - marks[-1][0])
        return max(0.0, left)

    def request_rate(self) -> float:
        """Requests per second over the limit's period (at least RATE_WINDOW_S): the average the
        token bucket keeps to, so it reads at most the limit (plus its small burst)."""
        return self._request_window()[0]

    def _request_window(self) -> tuple[float, float]:
        """(rate, running seconds measured). Time spent paused is not counted: the requests that
        were on their way when the pause came are answered, and counted, after it."""
        samples = self._calls
        if len(samples) < 2:
            return 0.0, 0.0
        end_t, end_v = samples[-1]

        def running(start: float) -> float:
            return end_t - start - sum(max(0.0, min(b, end_t) - max(a, start)) for a, b in self._pauses)

        while len(samples) > 2 and running(samples[1][0]) >= max(self.limit_period_s, RATE_WINDOW_S):
            samples.popleft()
        start_t, start_v = samples[0]
        span = running(start_t)
        # Over at least a second: a burst the bucket lets through at once, 0.25 s into a run, is 2
        # requests in the first second, not "8.1 req/s (at the limit of 2/s)".
        return ((end_v - start_v) / max(span, 1.0) if span > 0 else 0.0), max(0.0, span)

    def _elapsed(self) -> float:
        return 0.0 if self._t0 is None else self._now() - self._t0


def _rate(samples: deque[tuple[float, int]], window_s: float) -> float | None:
    """Growth per second of a cumulative count over the last `window_s` of its samples."""
    if len(samples) < 2:
        return None
    end_t, end_v = samples[-1]
    while len(samples) > 2 and samples[1][0] <= end_t - window_s:
        samples.popleft()  # keep one sample at or before the window's start
    start_t, start_v = samples[0]
    span = end_t - start_t
    if span <= 0:
        return None
    return (end_v - start_v) / span
