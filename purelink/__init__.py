"""Purelink: from an API or a database to DuckDB, from a notebook or the command line.

In IPython: `%load_ext purelink`, then `%purelink`. In Python: `purelink.run("stripe_customers")`.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Engine", "__version__", "load_ipython_extension", "run", "unload_ipython_extension"]


def run(recipe, **options):
    """Run a recipe of the current workspace; `result["customers"]` is a DataFrame."""
    from purelink.engine import run as _run

    return _run(recipe, **options)


def __getattr__(name: str):
    if name == "Engine":
        from purelink.engine import Engine

        return Engine
    raise AttributeError(name)


def load_ipython_extension(ipython) -> None:
    from purelink_jupyter import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython) -> None:
    from purelink_jupyter import unload_ipython_extension as unload

    unload(ipython)
