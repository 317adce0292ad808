"""Exceptions that say what went wrong and what to do next.

One hierarchy: `purelink.runtime.errors.RuntimeFailure` (message + guidance) is the root, because
the runtime runs alone in containers; `PurelinkError` extends it for the engine's own failures, and
the runtime's `DatabaseBusy` is the only one of its kind. The command line's dispatch and the
magics' wrapper each catch `RuntimeFailure` once and show `paragraph()`, never a traceback.
"""

from __future__ import annotations

from purelink.runtime.errors import DatabaseBusy, RuntimeFailure, TooManyBadRecords

__all__ = [
    "CredentialError",
    "DatabaseBusy",
    "ExecutionError",
    "PurelinkError",
    "RecipeError",
    "RuntimeFailure",
    "SourceError",
    "TooManyBadRecords",
]


class PurelinkError(RuntimeFailure):
    """A failure of the engine (outside a pipeline run) the user can act on."""


class RecipeError(PurelinkError):
    """A recipe is missing, malformed or names something that does not exist."""


class SourceError(PurelinkError):
    """A source is unknown, unreachable, or rejected the request."""


class CredentialError(PurelinkError):
    """A key or password is missing, malformed, rejected, or lacks permission."""


class ExecutionError(PurelinkError):
    """A pipeline run failed or could not be started."""


def plain(exc: ValueError) -> str:
    """A validation error in a sentence: pydantic's own wording names the model, counts the errors
    and links its documentation, none of which helps someone typing an answer."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in errors())
