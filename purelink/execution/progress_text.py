"""The words both monitors (the terminal's box, the notebook's widget) show for a run's figures:
"1,247/about 3,400 (36%)", "25 req/s (within limit of 25/s)", the ETA, the counts, the storage and
the status. A mixin of `RunProgress` (progress.py), which holds the figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from purelink.execution.units import duration_text, human_bytes
from purelink.runtime.expected import rounded

RATE_WINDOW_S = 10.0  # request rates are averaged over this (or the limit's own period, if longer)


class ProgressText:
    if TYPE_CHECKING:  # what RunProgress provides
        records: int
        rate_limit: float | None
        burst_s: float
        throttled: int
        _throttled_at: float | None
        _last_t: float | None
        status: str
        errors: int
        warnings: int
        rejected: int
        storage_bytes: int | None
        location: str
        cause: str | None
        waiting: str | None

        @property
        def done(self) -> bool: ...
        def total(self) -> tuple[int | None, bool]: ...
        def fraction(self) -> float: ...
        def request_rate(self) -> float: ...
        def _request_window(self) -> tuple[float, float]: ...
        def eta_s(self) -> float | None: ...

    def progress_text(self) -> str:
        total, estimate = self.total()
        pct = f"{self.fraction():.0%}"
        if not total:  # nothing to size, or nothing there at all: "0/about 0 (0%)" says less
            return f"{self.records:,} records"
        # An estimate shown to the unit ("about 16,642") claims a precision it does not have.
        return f"{self.records:,}/{f'about {rounded(total):,}' if estimate else f'{total:,}'} ({pct})"

    def rate_text(self) -> str:
        rate = self.request_rate()
        shown = f"{rate:.0f}" if rate >= 10 else f"{rate:.1f}"
        if self._throttled_at is not None and (self.done or (self._last_t or 0) - self._throttled_at < RATE_WINDOW_S):
            # the API's limit, not the recipe's, is the one that binds (or bound): say so
            return f"{shown} req/s (rate limited by the API: {self.throttled:,} answered 429 so far)"
        if not self.rate_limit:
            return f"{shown} req/s"
        limit = f"{self.rate_limit:g}"
        # The runtime's bucket lets a burst of `burst_s` seconds' worth (a tenth of a second's unless
        # the connector says more; at least one request) through at once: within the limit, though
        # it shows in a short measuring span. Short at the start, where the burst shows most: one
        # request 0.3 s into a run allowed 2/s reads as 3.4/s, and is within the limit.
        span = max(0.1, self._request_window()[1])
        if round(rate, 0 if rate >= 10 else 1) <= self.rate_limit:
            return f"{shown} req/s (within limit of {limit}/s)"
        if rate <= self.rate_limit * 1.05 + max(1.0, self.burst_s * self.rate_limit) / span:
            return f"{shown} req/s (at the limit of {limit}/s)"  # "107 within 100" read as a contradiction
        return f"{shown} req/s (above the limit of {limit}/s: expect 429s)"

    def eta_text(self) -> str:
        if self.done:
            return "done" if self.status == "success" else "-"
        if self.status == "paused":
            return "paused"
        if self.waiting:  # no page comes while the API does not answer: any figure would be made up
            return "unknown while the API does not answer"
        eta = self.eta_s()
        return "estimating..." if eta is None else duration_text(eta)

    def counts_text(self) -> str:
        return f"Errors: {self.errors} | Warnings: {self.warnings} | Rejected: {self.rejected:,}"

    def storage_text(self) -> str:
        size = human_bytes(self.storage_bytes) if self.storage_bytes is not None else "..."
        return f"{size} -> {self.location}" if self.location else size

    def status_text(self, resume_hint: str | None = None) -> str:
        """RUNNING while it goes; at the end "done", "failed: cause" or "stopped: resume with ..."."""
        if self.status == "success":
            return "done" + (f" ({self.rejected:,} rejected)" if self.rejected else "")
        if self.status == "failed":
            return "failed: " + (self.cause or "see the summary")
        if self.status == "stopped":
            return "stopped: " + (f"resume with {resume_hint}" if resume_hint else "the next run resumes")
        if self.waiting and self.status == "running":
            return f"RUNNING, {self.waiting}"
        return self.status.upper()
