"""Move a workspace's data from one store to another: every table, the `_purelink` bookkeeping
and each stream's state, so the next incremental run continues in the new store.

Each table is read as Arrow from the source and written in one transaction through the target's
bulk path, then read back and compared with the source by row count and checksum.

    copied = migrate(open("duckdb:data/purelink.duckdb"), open("postgresql://etl@wh/db", "WH_PW"))
"""

from __future__ import annotations

from dataclasses import dataclass

from purelink.errors import PurelinkError
from purelink.storage.base import Store
from purelink.storage.checksum import checksum

BOOKKEEPING = "_purelink"


@dataclass
class Copied:
    schema: str
    table: str
    rows_from: int
    rows_to: int
    checksum_from: str
    checksum_to: str

    @property
    def ok(self) -> bool:
        return self.rows_from == self.rows_to and self.checksum_from == self.checksum_to


def _skipped(schema: str, table: str) -> bool:
    # A whole-table reload's staging tables (PostgreSQL: in _purelink; DuckDB: beside the table)
    # hold a half-finished load that the next run redoes.
    return table.startswith("_purelink_stage_") or \
        (schema == BOOKKEEPING and (table.startswith("stage_") or table == "purelink_stage"))


def _driver_errors() -> tuple[type[BaseException], ...]:
    import duckdb
    import pyarrow as pa

    found: list[type[BaseException]] = [duckdb.Error, pa.ArrowException]
    try:
        from adbc_driver_manager import dbapi

        found.append(dbapi.Error)
    except ImportError:  # no PostgreSQL driver: no PostgreSQL store either
        pass
    return tuple(found)


def _refuse_to_overwrite(found, target: Store) -> None:
    """A target that already holds rows of the tables to copy (or a run history) would lose them:
    say which, before anything is written."""
    wanted = {(r.schema, r.table) for r in found.itertuples(index=False) if not _skipped(r.schema, r.table)}
    there = target.tables()
    held = sorted(f"{r.schema}.{r.table} ({int(r.rows):,} rows)" for r in there.itertuples(index=False)
                  if (r.schema, r.table) in wanted and r.rows)
    if held:
        shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
        raise PurelinkError(
            f"{target.location()} already holds {shown}: migrating would replace them.",
            "Nothing was written. Migrate into an empty database or schema, or pass --replace to overwrite "
            "those tables (their rows and the run history there are lost).")


def migrate(source: Store, target: Store, *, on_table=None, replace: bool = False) -> list[Copied]:
    """Copy every table of `source` into `target`; `on_table(Copied)` hears of each as it is done.
    Raises PurelinkError naming the tables whose counts or checksums differ, and before anything
    is written when `target` already holds rows of these tables (unless `replace`)."""
    if source.location() == target.location():
        raise PurelinkError(f"--from and --to name the same store ({source.location()}).",
                            "Give the store to copy into with --to.")
    found = source.tables()
    keyed = target.destination()  # its open() makes the bookkeeping tables with their keys
    keyed.open()
    keyed.close()
    if not replace:
        _refuse_to_overwrite(found, target)
    # bookkeeping last: a copy that fails half-way leaves no state pointing past missing rows
    order = sorted(found.itertuples(index=False), key=lambda r: (r.schema == BOOKKEEPING, r.schema, r.table))
    copied = []
    for row in order:
        schema, table = row.schema, row.table
        if _skipped(schema, table):
            continue
        name = f"{schema}.{table}"
        data = source.table(name, arrow=True)
        logical = source.columns(schema, table)
        keep = schema == BOOKKEEPING and bool(target.columns(schema, table))
        try:
            target.write_table(schema, table, data, logical, replace=not keep)
        except _driver_errors() as exc:  # the driver's words about this table's data; no traceback for it
            raise PurelinkError(f"Copying {name} into {target.location()} failed: {str(exc).strip().splitlines()[0]}",
                                "Nothing was removed from the source; tables copied before this one are in the "
                                "target. Fix the value or type named above and run migrate again.") from None
        landed = target.table(name, arrow=True)
        if keep:  # the target's own table may have columns the source's older one lacks
            landed = landed.select([c for c in data.column_names if c in landed.column_names])
            data = data.select([c for c in landed.column_names])
        done = Copied(schema, table, data.num_rows, landed.num_rows, checksum(data), checksum(landed))
        copied.append(done)
        if on_table:
            on_table(done)
    wrong = [f"{c.schema}.{c.table}" for c in copied if not c.ok]
    if wrong:
        raise PurelinkError(
            f"The copy into {target.location()} differs from {source.location()} in {', '.join(wrong)}.",
            "Nothing was removed from the source. Check the target's column types for these tables "
            "(a type the target cannot hold exactly), fix or drop them there, and run migrate again.")
    return copied
