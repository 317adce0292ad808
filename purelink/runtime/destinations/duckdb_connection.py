"""Opening a DuckDB file: under one catalog name, waiting a little for another writer, MotherDuck
with its token kept out of the path, and the memory a loading connection may keep.

DuckDB's default buffer pool (80% of the machine's memory) keeps every block a run writes, so a
run's memory grew with its table: a 1,000,000-record REST run peaked at 429 MB, 353 MB with the
limit below (bench/RESULTS.md, paging section). DuckDB spills what does not fit into a folder next
to the file (`NAME.duckdb.tmp`, removed when the connection closes). A transaction that cannot fit
even so (a merge that deletes a million scattered rows needs more than 64 MB) is rolled back and
run again without the limit, which the run's log says: a limit costs memory, never a load.

`PURELINK_DUCKDB_MEMORY_LIMIT` (a size such as 512MB or 2GB) overrides the limit.

Under the limit, a long run's peak memory still grew with its table (a pipeline against a plain
numbered API: 190 MB at 20,000 records, 244 MB at 100,000, 335 MB at 300,000), for two reasons
outside the buffer pool, each measured alone:
- DuckDB's checkpoints (automatic once its log holds 16 MB) merge the small row groups earlier
  checkpoints wrote ("vacuum"), loading them whole: +50-100 MB for a moment, more as the table grows.
  A loading connection does not vacuum (`max_vacuum_tasks = 0`). Row groups emptied by a merge's
  deletes are still dropped, but without any vacuum each run's small writes (its executions row)
  stayed a row group and a block of their own, and the file grew with every run: the run's last
  checkpoint, when it closes the database, vacuums a little (`compact`).
- Each checkpoint also leaves memory behind that only closing the database gives back (1,000
  commits of 1,000 rows: 156 MB after the first, 216 MB after the last, 155 MB once closed). So a
  loading connection is closed and opened again between commits once its log has passed
  RECYCLE_LOG_BYTES, or after DuckDB checkpointed on its own (`LogWatch`); closing is itself the
  checkpoint DuckDB would have made.
With both: 190 MB at 20,000 records, 196 MB at 100,000, 200 MB at 300,000.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import tempfile
import time
from pathlib import Path

import duckdb

from purelink.runtime import bookkeeping
from purelink.runtime.errors import DatabaseBusy, RuntimeFailure

MEMORY_LIMIT_ENV = "PURELINK_DUCKDB_MEMORY_LIMIT"
MEMORY_LIMIT = "128MB"
RECYCLE_LOG_BYTES = 8 << 20  # half of DuckDB's automatic checkpoint threshold
HEADER_BYTES = 12288  # DuckDB's three header blocks: no database file is shorter
COMPACT_VACUUM_TASKS = 1  # row-group merges per table when a run closes its database (compact)

log = logging.getLogger("purelink.runtime")

# The catalog every purelink connection gives the file. DuckDB would name it after the file, and a
# file named after a source (data/stripe.duckdb) would make `stripe.customers` ambiguous between the
# catalog and the schema `stripe`, in the loader and in every query a user writes.
CATALOG = "purelink_db"


def text_literal(text: str) -> str:
    """`text` as a SQL string literal (for statements that take no parameters: ATTACH, SET)."""
    return "'" + text.replace("'", "''") + "'"


def connect(path: str | os.PathLike, *, read_only: bool = False, wait_s: float = 10.0,
            token: str | None = None):
    """Open a DuckDB file (as catalog `purelink_db`), waiting a little for another writer; then a
    clear DatabaseBusy. An `md:DATABASE` path is a MotherDuck database, opened with the token read
    from the secret named `token`."""
    deadline = time.monotonic() + wait_s
    if not read_only and not str(path).startswith("md:") and str(path) != ":memory:":
        _create_whole(Path(path))
    while True:
        con = duckdb.connect()
        try:
            if str(path).startswith("md:"):
                _motherduck(con, token)
            con.execute(f"ATTACH {text_literal(str(path))} AS {CATALOG}{' (READ_ONLY)' if read_only else ''}")
            con.execute(f"USE {CATALOG}")
            return con
        except duckdb.IOException as exc:
            con.close()
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise DatabaseBusy(
                    f"The database {path} is busy: another process is writing to it.",
                    "Wait for the running pipeline to finish (or stop it), then try again.",
                ) from None
            time.sleep(0.2)


def _create_whole(path: Path) -> None:
    """A new database file appears whole or not at all. DuckDB writes a new file in place, and a run
    killed in that instant (1 s into a run, in a test) left a file shorter than DuckDB's header that
    no later run could open ("not a valid DuckDB database file"). Such a file holds no data and is
    replaced; anything else already at `path` is left to DuckDB."""
    try:
        size: int | None = path.stat().st_size
    except FileNotFoundError:
        size = None
    if size is None:
        _create(path, broken=False)
    elif size < HEADER_BYTES and _cut_short(path):
        _create(path, broken=True)
    # What a creation killed between its steps left (12 KB): with the file whole, nobody needs it.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.new"):
        stale.unlink(missing_ok=True)


def _cut_short(path: Path) -> bool:
    """A file shorter than the header whose magic is absent or a prefix of DuckDB's."""
    try:
        with open(path, "rb") as existing:
            head = existing.read(HEADER_BYTES)
    except FileNotFoundError:
        return False
    magic = head[8:12]  # after the header's checksum
    return len(head) < HEADER_BYTES and (b"DUCK".startswith(magic) or not magic.strip(b"\0"))


def _create(path: Path, broken: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    os.close(fd)
    new = Path(name)
    try:
        new.unlink()  # DuckDB refuses an empty file: it creates its own
        duckdb.connect(str(new)).close()
        if broken:
            os.replace(new, path)
            log.warning("replaced %s, a database file cut short when it was created (it held no data)", path)
        else:
            try:
                os.link(new, path)  # never over a file another process made meanwhile: theirs stands
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links
                if not path.exists():
                    os.replace(new, path)
    finally:
        new.unlink(missing_ok=True)


def _motherduck(con: duckdb.DuckDBPyConnection, token: str | None) -> None:
    """Load DuckDB's motherduck extension and give it the token as the `motherduck_token` setting:
    a token in the ATTACH path would be part of the location printed in events and logs."""
    from purelink.runtime.auth import read_secret

    secret = read_secret(token or "MOTHERDUCK_TOKEN")
    try:
        con.execute("LOAD motherduck")
    except duckdb.Error:
        try:
            con.execute("INSTALL motherduck")
            con.execute("LOAD motherduck")
        except duckdb.Error as exc:
            con.close()
            raise RuntimeFailure(
                "Cannot reach MotherDuck: DuckDB's motherduck extension is not installed here and could "
                f"not be downloaded ({str(exc).splitlines()[0][:160]}).",
                "MotherDuck needs internet access from where the pipeline runs (extensions.duckdb.org "
                "and api.motherduck.com); run `INSTALL motherduck` once with access, or load into a "
                "local DuckDB file (--destination duckdb:data/purelink.duckdb) and `purelink migrate` "
                "it later.") from None
    con.execute("SET motherduck_token = " + text_literal(secret))


def size(text: str) -> str:
    """A DuckDB size setting such as 256MB; anything else is refused, never pasted into SQL."""
    value = text.strip().upper().replace(" ", "")
    if not value[:-2].isdigit() or value[-2:] not in ("KB", "MB", "GB"):
        raise RuntimeFailure(f"A DuckDB memory limit looks like 256MB or 2GB, not {text!r}.",
                             f"Fix {MEMORY_LIMIT_ENV} (or the memory_limit given), or unset it.")
    return value


def limit_memory(con: duckdb.DuckDBPyConnection, path: Path, limit: str) -> None:
    """Cap the connection's buffer pool (the environment's limit wins), spill beside `path`, and
    keep checkpoints from merging row groups (see above)."""
    chosen = size(os.environ.get(MEMORY_LIMIT_ENV, "").strip() or limit)
    con.execute(f"SET memory_limit = '{chosen}'")
    con.execute("SET temp_directory = " + text_literal(f"{path}.tmp"))
    con.execute("SET max_vacuum_tasks = 0")


def compact(con: duckdb.DuckDBPyConnection) -> None:
    """Checkpoint with a vacuum of COMPACT_VACUUM_TASKS merges per table; a loading connection
    turned vacuuming off (limit_memory). Call it last, just before a run closes its connection.

    Without a vacuum every checkpoint that touched a table left it one more row group, and a row
    group written by a checkpoint of its own takes at least one 256 KB block: each run's row in
    `_purelink.executions` (and each run's merge of re-read records) grew the file for good, 1.6 MB
    to 7.1 MB over 18 runs of the same 1,500 customers. Done once per run, not between commits, so
    the loading loop keeps its memory. One merge per table is enough to fold a run's small row
    groups into the table. Only a run that wrote little is compacted (DuckDBDestination.close: never
    reopened, its log under RECYCLE_LOG_BYTES): merging what a large run wrote cost it 50 MB of
    memory and 0.45 s at 100,000 records; the next small run merges it instead, once (a 100,000-row
    table: 209 MB and 0.97 s for an incremental run that found nothing new, 134 MB and 0.64 s for the
    one after). A compaction that fails is skipped,
    with a warning: the run's rows are committed already (DuckDB replays its log when the file is
    opened again), and the next run tries again."""
    try:
        con.execute(f"SET max_vacuum_tasks = {COMPACT_VACUUM_TASKS}")
        con.execute("CHECKPOINT")
    except duckdb.Error as exc:
        log.warning("DuckDB could not compact the database (%s); the next run tries again.",
                    str(exc).splitlines()[0])
        with contextlib.suppress(duckdb.Error):  # the close checkpoints too: not with the vacuum that failed
            con.execute("SET max_vacuum_tasks = 0")


def unlimit_memory(con: duckdb.DuckDBPyConnection, exc: Exception) -> None:
    """Lift the limit after `exc` (a transaction that did not fit), and say so."""
    log.warning("A commit did not fit in DuckDB's memory limit (%s); it runs again without the limit. "
                "Set %s to a larger size to keep this run's memory bounded.", str(exc).splitlines()[0],
                MEMORY_LIMIT_ENV)
    con.execute("RESET memory_limit")


class LogWatch:
    """Whether a loading connection is due to be closed and opened again: its write-ahead log
    (`NAME.duckdb.wal`) holds RECYCLE_LOG_BYTES, or shrank since the last look (DuckDB checkpointed
    on its own, which is what leaves memory behind)."""

    def __init__(self, path: Path) -> None:
        self.log = Path(f"{path}.wal")
        self.seen = 0

    def size(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def due(self) -> bool:
        size, before = self.size(), self.seen
        self.seen = size
        return size >= RECYCLE_LOG_BYTES or size < before


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Create the bookkeeping tables, and add the columns a file from an older version lacks."""
    for statement in bookkeeping.ddl("duckdb"):
        con.execute(statement)
    found: dict[str, set[str]] = {}
    for table, column in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ?", [bookkeeping.SCHEMA]).fetchall():
        found.setdefault(table, set()).add(column)
    for table in bookkeeping.TABLES:
        for statement in bookkeeping.upgrade("duckdb", table, found.get(table, set())):
            con.execute(statement)
