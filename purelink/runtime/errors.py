"""Errors raised inside a pipeline run. The runtime imports nothing else of purelink, so these
mirror `purelink.errors`: a message plus guidance on what to do next."""

from __future__ import annotations


class RuntimeFailure(Exception):
    def __init__(self, message: str, guidance: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.guidance = guidance

    def __str__(self) -> str:
        return f"{self.message} {self.guidance}".strip()


class DatabaseBusy(RuntimeFailure):
    """Another process holds the DuckDB file for writing."""


class TooManyBadRecords(RuntimeFailure):
    """More records failed validation than the recipe allows."""
