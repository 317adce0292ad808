"""How far a REST extraction is and how long it has left: what the `progress` events carry.

A mixin of `Extraction` (which holds `runs`, `started` and `_covered_before`); the monitors in
`purelink.execution.progress` turn these figures into a bar that never goes back and an ETA.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from purelink.runtime.pages import StreamRun


class Estimating:
    if TYPE_CHECKING:  # what Extraction provides
        runs: dict[str, StreamRun]
        started: float
        _covered_before: dict[str, int]

    def estimated_total(self, run: StreamRun) -> int | None:
        """Records this run will load for the stream: those loaded, plus each open window's
        remaining range at that window's own density; None until every window has been read
        once. Data is rarely spread evenly in time; per-window densities follow where it is dense."""
        if run.stream.time_filter is None:
            return None
        left = [w for w in run.windows.values() if not w.closed]
        if any(w.lo is None or w.hi is None for w in left):
            return None
        if any(w.pages == 0 and w.density is None for w in left):
            return None  # a window not read yet may hold nothing or most of the data: no guess yet
        if not left:
            return run.records  # every window read: the total is what was loaded
        covered = run.progress.covered - self._covered_before.get(run.stream.name, 0)
        if covered <= 0 or not run.records:
            return None
        mean = run.records / covered  # this run's average so far, for windows not read yet
        return round(run.records + sum(w.remaining() * (mean if w.density is None else w.density) for w in left))

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
