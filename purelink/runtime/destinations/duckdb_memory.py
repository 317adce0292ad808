"""The memory a loading DuckDB connection may keep.

DuckDB's default buffer pool (80% of the machine's memory) keeps every block a run writes, so a
run's memory grew with its table: a 1,000,000-record REST run peaked at 429 MB, 353 MB with the
limit below (bench/RESULTS.md, paging section). DuckDB spills what does not fit into a folder next
to the file (`NAME.duckdb.tmp`, removed when the connection closes). A transaction that cannot fit
even so (a merge that deletes a million scattered rows needs more than 64 MB) is rolled back and
run again without the limit, which the run's log says: a limit costs memory, never a load.

`PURELINK_DUCKDB_MEMORY_LIMIT` (a size such as 512MB or 2GB) overrides the limit.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import duckdb

from purelink.runtime.errors import RuntimeFailure

MEMORY_LIMIT_ENV = "PURELINK_DUCKDB_MEMORY_LIMIT"
MEMORY_LIMIT = "128MB"

log = logging.getLogger("purelink.runtime")


def size(text: str) -> str:
    """A DuckDB size setting such as 256MB; anything else is refused, never pasted into SQL."""
    value = text.strip().upper().replace(" ", "")
    if not value[:-2].isdigit() or value[-2:] not in ("KB", "MB", "GB"):
        raise RuntimeFailure(f"A DuckDB memory limit looks like 256MB or 2GB, not {text!r}.",
                             f"Fix {MEMORY_LIMIT_ENV} (or the memory_limit given), or unset it.")
    return value


def limit_memory(con: duckdb.DuckDBPyConnection, path: Path, limit: str) -> None:
    """Cap the connection's buffer pool (the environment's limit wins) and spill beside `path`."""
    chosen = size(os.environ.get(MEMORY_LIMIT_ENV, "").strip() or limit)
    con.execute(f"SET memory_limit = '{chosen}'")
    con.execute("SET temp_directory = '" + f"{path}.tmp".replace("'", "''") + "'")


def unlimit_memory(con: duckdb.DuckDBPyConnection, exc: Exception) -> None:
    """Lift the limit after `exc` (a transaction that did not fit), and say so."""
    log.warning("A commit did not fit in DuckDB's memory limit (%s); it runs again without the limit. "
                "Set %s to a larger size to keep this run's memory bounded.", str(exc).splitlines()[0],
                MEMORY_LIMIT_ENV)
    con.execute("RESET memory_limit")
