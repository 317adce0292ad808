"""How far a REST extraction is and how long it has left: what the `progress` events carry.

A mixin of `Extraction` (which holds `runs`, `started` and `_covered_before`); the monitors in
`purelink.execution.progress` turn these figures into a bar that never goes back and an ETA.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from purelink.runtime.pages import StreamRun


def log_mean(a: float, b: float) -> float:
    """The mean density over a range whose density goes from `a` to `b` by a steady factor."""
    if a <= 0 or b <= 0:  # the data begins (or ends) somewhere in the range: half of it, at a guess
        return max(a, b) / 2
    if abs(a - b) <= 1e-9 * max(a, b):
        return a
    return (a - b) / math.log(a / b)


def densities_at_hi(run: StreamRun) -> dict[int, float]:
    """The density at each window's upper end, where known: its first page's, 0 for a window read
    empty, and for a window a split made and not read yet, the density given it at the cut."""
    return {w.hi: (w.first_density if w.first_density is not None else w.density or 0.0)
            for w in run.windows.values() if w.hi is not None and (
                w.first_density is not None or (w.closed and w.density == 0) or (w.pages == 0 and w.density))}


def density_at_cut(window, mid: int, below: float | None) -> float | None:
    """The density at `mid`, where a split cuts a window read newest first down to `window.position`:
    between the density there and `below`, the density at its lower end (see `log_mean`: a steady
    factor per second). The two halves then hold what the whole did, so the estimate does not jump."""
    here = window.density
    if here is None or below is None or window.position is None or window.position <= window.lo:
        return here
    if here <= 0 or below <= 0:  # the data begins (or ends) somewhere in the range
        return max(here, below) / 2
    return here * (below / here) ** ((window.position - mid) / (window.position - window.lo))


class Estimating:
    if TYPE_CHECKING:  # what Extraction provides
        runs: dict[str, StreamRun]
        started: float
        _covered_before: dict[str, int]

    def estimated_total(self, run: StreamRun) -> int | None:
        """Records this run will load for the stream: those read, plus each open window's
        remaining range at the density between where the window is and where it ends; None until
        every window has been read once. Data is rarely spread evenly in time; per-window
        densities follow where it is dense."""
        if run.stream.time_filter is None:
            return None
        left = [w for w in run.windows.values() if not w.closed]
        if any(w.lo is None or w.hi is None for w in left):
            return None
        if any(w.pages == 0 and w.density is None for w in left):
            return None  # a window not read yet may hold nothing or most of the data: no guess yet
        # Counted as read, not as committed: the writer may be thousands of records behind the
        # requests, and the windows' positions (the range covered) move as pages are read.
        read = max(run.fetched, run.records)
        if not left:
            return read  # every window read: the total is what was read
        covered = run.progress.covered - self._covered_before.get(run.stream.name, 0)
        if covered <= 0 or not read:
            return None
        mean = read / covered  # this run's average so far, for windows not read yet
        # Where a window is read (newest first), and where its range ends below, data is rarely as
        # dense: an API's records grow over the years. The window that begins at this one's lower
        # end measured the density there with its first page; between the two, the density is
        # taken to change by a steady factor per second, as growth does (their logarithmic mean).
        # Without that window, the density where this one is.
        at_hi = densities_at_hi(run)

        def left_in(w) -> float:
            here = mean if w.density is None else w.density
            return w.remaining() * log_mean(here, at_hi.get(w.lo, here))

        return round(read + sum(left_in(w) for w in left))

    def progress(self) -> float | None:
        parts = [r.progress.fraction() for r in self.runs.values()]
        known = [p if p is not None else (1.0 if r.status != "running" else 0.0)
                 for p, r in zip(parts, self.runs.values())]
        return sum(known) / len(known) if known else None

    def eta(self, fraction: float | None) -> float | None:
        overall = self.progress()
        if not overall or overall <= 0:
            return None
        elapsed = time.monotonic() - self.started
        return round(elapsed * (1 - overall) / overall, 1)
