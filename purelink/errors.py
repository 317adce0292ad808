"""Exceptions that say what went wrong and what to do next.

Every error a user can cause is a `PurelinkError` carrying `guidance`; the command line prints
both as one paragraph (no traceback) and the notebook raises them as `UsageError`.
"""

from __future__ import annotations


class PurelinkError(Exception):
    """A failure the user can act on: `message` says what happened, `guidance` what to do."""

    def __init__(self, message: str, guidance: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.guidance = guidance

    def __str__(self) -> str:
        return f"{self.message} {self.guidance}".strip()


class RecipeError(PurelinkError):
    """A recipe is missing, malformed or names something that does not exist."""


class SourceError(PurelinkError):
    """A source is unknown, unreachable, or rejected the request."""


class CredentialError(PurelinkError):
    """A key or password is missing, malformed, rejected, or lacks permission."""


class DatabaseBusy(PurelinkError):
    """Another process is writing to the DuckDB file."""


class ExecutionError(PurelinkError):
    """A pipeline run failed or could not be started."""
