"""httpx without the optional packages it imports only because they happen to be installed.

httpx imports its command-line client (`httpx._main`: click, rich, pygments) and httpcore imports
trio (for async locks) whenever those are present. A pipeline uses neither, and on a machine that
has them they were about 0.4 s of every pipeline's start, before its first request. They are
marked absent while httpx loads, so each takes the fallback it keeps for when they are not
installed, and unmarked afterwards: whoever imports trio later in the same process gets it.
"""

from __future__ import annotations

import sys

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
