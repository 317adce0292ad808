"""How many records a run will load, as far as its events tell: the "about N" every view shows.

The notebook's and the `purelink` command's monitors (`purelink.execution.progress`) and a module
run by hand in a terminal (`purelink.runtime.readable`) all fold the same events into an
`Expected`, so the three say the same total at the same moment.

Where the figure comes from, best first:
- an API's `total_count`: exact;
- the runtime's own estimate, sent with each page (each window's density, records per second of
  range where the window is read, times the range it has left); failing that, the records over
  the share of the time range covered extrapolate the run's average density;
- the last full run's count (the pipeline sends it with `started`): it is the total until a tenth
  of the records are read, and gives way to the density until half are. A density read off the
  first pages can be twice the truth (an API's records grow towards now, and a run reads the
  newest first); the last full run's count rarely is.

A first run has no count to lean on: it shows no total until its records are a tenth of the
estimate. Estimates are shown to two significant figures (`rounded`).
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_SHARE_SHOWN = 0.1  # a density-only total shows once the records done are a tenth of it
DENSITY_TRUSTED = 0.5  # with half the records read, the density outweighs the last full run's count
MIN_COVERED = 0.02  # below this share of a time range, density says nothing yet


def rounded(n: int) -> int:
    """An estimated total to two significant figures (3,421 -> 3,400; 16,642 -> 17,000; under 100 as
    it is): "about 16,642" would claim a precision the estimate does not have."""
    if n < 100:
        return n
    step = 10 ** (len(str(n)) - 2)
    return round(n / step) * step


@dataclass
class StreamSize:
    records: int = 0
    covered: float | None = None  # share of the time range covered (the runtime's `progress`)
    total: int | None = None  # exact, when the API told it
    # Where this run began: a resumed run starts with part of the range already covered by the
    # run it resumes, whose records are not in this run's count.
    first_covered: float | None = None
    first_records: int = 0

    runtime_estimate: int | None = None  # the runtime's own, from each window's density
    runtime_sizes: bool = False  # the runtime sends its estimate (None while it cannot tell)

    def estimate(self) -> float | None:
        if self.total is not None:
            return self.total
        if self.runtime_sizes:
            return None if self.runtime_estimate is None else max(self.runtime_estimate, self.records)
        if self.covered is None:
            return None
        if self.covered >= 1.0:
            return self.records
        c0 = self.first_covered or 0.0
        share = self.covered - c0
        if share < MIN_COVERED or self.records <= self.first_records:
            return None
        return self.first_records + (self.records - self.first_records) / share * (1.0 - c0)


class Expected:
    """The records a run will load, folded from its events: `apply(event)`, then `total(records)`."""

    def __init__(self, previous_records: int | None = None) -> None:
        self.previous_records = previous_records or None
        self.streams: dict[str, StreamSize] = {}

    def apply(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "started" and event.get("previous_records"):
            self.previous_records = int(event["previous_records"])
        elif kind == "page":
            s = self.streams.setdefault(event.get("stream", ""), StreamSize())
            if "stream_records" in event:
                s.records = max(s.records, int(event.get("stream_records") or 0))
            else:  # an older runtime's events: the page's own count
                s.records += int(event.get("records") or 0)
            if event.get("progress") is not None:
                s.covered = max(s.covered or 0.0, float(event["progress"]))
                if s.first_covered is None:
                    s.first_covered, s.first_records = s.covered, s.records
            if "estimated_total" in event:
                s.runtime_sizes = True
                value = event["estimated_total"]
                s.runtime_estimate = None if value is None else int(value)
            if event.get("total_count") is not None:
                s.total = int(event["total_count"])
        elif kind == "window_done":
            s = self.streams.setdefault(event.get("stream", ""), StreamSize())
            if event.get("progress") is not None:
                s.covered = max(s.covered or 0.0, float(event["progress"]))

    @property
    def runtime_sizes(self) -> bool:
        """The runtime sizes the streams itself: while it cannot, the time covered is no measure."""
        return any(s.runtime_sizes for s in self.streams.values())

    def total(self, records: int) -> tuple[int | None, bool]:
        """(total records, is it an estimate) with `records` done. None while nothing allows a guess."""
        exact = [s.total for s in self.streams.values()]
        if exact and all(v is not None for v in exact):
            return max(sum(v for v in exact if v is not None), records), False
        dense = self.density_total()
        if dense is None:
            guess = self.previous_records
        elif self.previous_records:
            # Trusted by the records read, not by the time range covered (empty years cover it in
            # a page each), and of the smaller of the two guesses: data that shrank since the last
            # full run moves to the density as soon as data that grew does.
            share = records / max(1, min(dense, self.previous_records))
            weight = min(1.0, max(0.0, (share - MIN_SHARE_SHOWN) / (DENSITY_TRUSTED - MIN_SHARE_SHOWN)))
            guess = round(weight * dense + (1 - weight) * self.previous_records)
        else:
            guess = dense
            if guess is not None and records < MIN_SHARE_SHOWN * guess:
                return None, True  # a density read off the first pages can be several times the truth
        if guess is None:
            return None, True
        return max(int(guess), records), True

    def density_total(self) -> int | None:
        if not self.streams:
            return None
        total = 0.0
        for s in self.streams.values():
            guess = s.estimate()
            if guess is None:
                return None  # a stream we cannot size: the sum would be a false floor
            total += guess
        return round(total)
