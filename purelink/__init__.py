"""Purelink: from an API or a database to DuckDB, from a notebook or the command line.

In IPython: `%load_ext purelink`, then `%purelink`. In Python:

    import purelink
    result = purelink.run("stripe_customers")   # result["customers"] is a DataFrame

The public surface is `__all__`; everything else is reached through its room
(`purelink.catalog`, `purelink.execution`, ...). Names load on first use, so `import purelink`
and `%load_ext purelink` stay quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_WHERE = {
    "Engine": "purelink.engine",
    "Result": "purelink.engine",
    "run": "purelink.engine",
    "RuntimeFailure": "purelink.errors",
    "PurelinkError": "purelink.errors",
    "DatabaseBusy": "purelink.errors",
    "TooManyBadRecords": "purelink.errors",
    "RecipeError": "purelink.errors",
    "SourceError": "purelink.errors",
    "CredentialError": "purelink.errors",
    "ExecutionError": "purelink.errors",
}

__all__ = [
    "CredentialError",
    "DatabaseBusy",
    "Engine",
    "ExecutionError",
    "PurelinkError",
    "RecipeError",
    "Result",
    "RuntimeFailure",
    "SourceError",
    "TooManyBadRecords",
    "__version__",
    "load_ipython_extension",
    "run",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from purelink.engine import Engine, Result, run
    from purelink.errors import (
        CredentialError,
        DatabaseBusy,
        ExecutionError,
        PurelinkError,
        RecipeError,
        RuntimeFailure,
        SourceError,
        TooManyBadRecords,
    )


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'purelink' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


def load_ipython_extension(ipython: Any) -> None:
    from purelink_jupyter import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from purelink_jupyter import unload_ipython_extension as unload

    unload(ipython)
