"""A pipeline process without the packages its libraries import only because they are installed.

httpx: it imports its command-line client (`httpx._main`: click, rich, pygments) and httpcore imports
trio (for async locks) whenever those are present. A pipeline uses neither, and on a machine that
has them they were about 0.4 s of every pipeline's start, before its first request. They are
marked absent while httpx loads, so each takes the fallback it keeps for when they are not
installed, and unmarked afterwards: whoever imports trio later in the same process gets it.

pandas: pyarrow (building an array from Python values) and DuckDB (registering an Arrow table)
each import it, only to ask whether what they were given is a DataFrame. The runtime never hands
them one. The import took 0.2-0.3 s of a run's first commit, on the loop's own thread while the
first pages waited to be scheduled, and about 40 MB. `without_pandas()` refuses pandas to imports
the runtime makes (so both take their "pandas is not installed" path); code of anyone else in the
same process, a generated module's own additions included, imports pandas as usual, and pyarrow
then finds it (it tries again when asked to convert).
"""

from __future__ import annotations

import sys
from types import FrameType

_OPTIONAL = ("httpx._main", "trio")


def _load():
    blocked = [name for name in _OPTIONAL if name not in sys.modules and "httpx" not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # the documented way to make an import of it fail
    try:
        import httpcore  # noqa: F401 - httpx imports it on its first client; loaded here while trio is marked absent
        import httpx
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return httpx


httpx = _load()


class _NoPandasForTheRuntime:
    """An import finder that refuses pandas when the nearest Python code asking for it is the
    runtime's own (pyarrow's and DuckDB's compiled code have no Python frame of their own)."""

    @staticmethod
    def find_spec(name, path=None, target=None) -> None:
        """None (not mine: the next finder looks) or, for the runtime, ModuleNotFoundError."""
        if name != "pandas" and not name.startswith("pandas."):
            return
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen_importlib")):
            frame = frame.f_back
        caller = frame.f_globals.get("__name__", "") if frame is not None else ""
        if caller.startswith("purelink.runtime"):
            raise ModuleNotFoundError(f"pandas is not loaded for {caller} (see purelink.runtime.lean)", name=name)


def without_pandas() -> None:
    """Called once by a pipeline process (`entry.invocation`), never in a notebook or the command."""
    if _NoPandasForTheRuntime not in sys.meta_path:
        sys.meta_path.insert(0, _NoPandasForTheRuntime)
