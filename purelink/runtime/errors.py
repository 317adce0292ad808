"""The root of Purelink's exceptions. Every failure a user can act on carries a `message` (what
went wrong) and `guidance` (what to do next). It lives in the runtime because the runtime runs
alone inside containers and imports nothing else of purelink; `purelink.errors.PurelinkError`
extends it, so one `except RuntimeFailure` catches every kind."""

from __future__ import annotations


class RuntimeFailure(Exception):
    """A failure the user can act on: `message` says what happened, `guidance` what to do."""

    def __init__(self, message: str, guidance: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.guidance = guidance

    def __str__(self) -> str:
        return f"{self.message} {self.guidance}".strip()

    def paragraph(self) -> str:
        """The one paragraph the command line and the notebook show (no traceback)."""
        return self.message + (f"\n{self.guidance}" if self.guidance else "")


class DatabaseBusy(RuntimeFailure):
    """Another process holds the database for writing (DuckDB allows one writer per file)."""


class TooManyBadRecords(RuntimeFailure):
    """More records failed validation than the recipe allows."""
