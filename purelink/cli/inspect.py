"""`purelink inspect`: look into the DuckDB database, or any store (tables, row counts, any query).

Opens the file read-only for the moment it reads, so it never blocks a running pipeline for long.
`--destination URL` reads another store (PostgreSQL, MotherDuck, BigQuery, Iceberg) through
`purelink.storage`, its password or token from the vault entry `--destination-credential`.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from datetime import date, datetime
from pathlib import Path

from purelink.errors import PurelinkError
from purelink.workspace import Workspace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, help="DuckDB file (default data/purelink.duckdb in the workspace)")
    parser.add_argument("--destination", metavar="URL",
                        help="a store URL (duckdb:PATH, postgresql://USER@HOST/DB, md:DB, bigquery://P/D, ...)")
    parser.add_argument("--destination-credential", metavar="NAME",
                        help="vault entry with the store's password or token")
    parser.add_argument("--tables", action="store_true", help="list tables with row counts (the default)")
    parser.add_argument("--query", help="run one SQL query (read-only)")
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.add_argument("--limit", type=int, default=50, help="rows to print for a query in table format")


def tables(db: Path) -> list[dict]:
    con = open_db(db)
    try:
        names = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                            "ORDER BY schema_name = '_purelink', schema_name, table_name").fetchall()
        return [{"schema": s, "table": t,
                 "rows": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]} for s, t in names]
    finally:
        con.close()


def query(db: Path, sql: str) -> tuple[list[str], list[tuple]]:
    import duckdb

    from purelink.storage.duckdb import use_short_names

    con = open_db(db)
    try:
        # Tables answer to their short names (`SELECT * FROM executions`, `... FROM customers`), as
        # the product's examples write them, where only one schema holds the name.
        use_short_names(con)
        rel = con.execute(sql)
        columns = [d[0] for d in rel.description or []]
        rows = rel.fetchall()
        edges = [i for i in range(len(columns)) if any(_edge(r[i]) for r in rows)]
        return columns, _with_infinities(con, sql, len(columns), edges) if edges else rows
    except duckdb.Error as exc:
        raise PurelinkError(f"The query failed: {str(exc).splitlines()[0]}", _hint(con, exc, db, sql)) from None
    finally:
        con.close()


def _edge(value) -> bool:
    """Python's first or last date: what DuckDB hands over for PostgreSQL's infinities."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) in (datetime.min, datetime.max)
    return isinstance(value, date) and value in (date.min, date.max)


def _with_infinities(con, sql: str, width: int, edges: list[int]) -> list[tuple]:
    """The rows again, in one query, with `infinity` / `-infinity` where DuckDB holds one: Python
    has no such date, and printing 9999-12-31 would show a value the source never had."""
    texts = ", ".join(f"CASE WHEN NOT isfinite(#{i + 1}) THEN CAST(#{i + 1} AS VARCHAR) END" for i in edges)
    rows = con.sql(sql).project(", ".join(f"#{i + 1}" for i in range(width)) + ", " + texts).fetchall()
    fixed = []
    for row in rows:
        values = list(row[:width])
        for i, text in zip(edges, row[width:], strict=True):
            if text is not None:
                values[i] = text
        fixed.append(tuple(values))
    return fixed


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MISSING = re.compile(r"Table with name (?P<name>[^ ]+) does not exist")


def _hint(con, exc: Exception, db: Path, sql: str = "") -> str:
    """For an unknown table, the qualified names it may have meant; for a table whose name is no
    plain SQL word (`127_0_0_1_8765_v1_customers`, named after the server it came from), how to quote it."""
    from purelink.storage.base import qualified_matches
    from purelink.storage.duckdb import user_tables

    odd = [(s, t) for s, t in user_tables(con) if not _WORD.fullmatch(t) and re.search(
        rf"(?<![\w\"]){re.escape(t)}(?![\w\"])", sql)]
    if "Parser Error" in str(exc) and odd:
        schema, table = odd[0]
        # The whole query in single quotes: inside "..." the shell strips the name's own quotes.
        fixed = re.sub(rf"(?<![\w\"])(?:{re.escape(schema)}\.)?{re.escape(table)}(?![\w\"])",
                       f'{schema}."{table}"', sql.replace("'", "'\\''"))
        return (f"The table name {table} is not a plain SQL name (it starts with a digit or holds other "
                f'characters): write it in double quotes, {schema}."{table}", and the query in single '
                f"quotes so the shell keeps them: --query '{fixed}'")
    if "read-only mode" in str(exc):
        return ("`purelink inspect` only reads: it opens the file read-only, so a running pipeline is never "
                "blocked. To change rows, open the file with DuckDB yourself while no pipeline writes to it "
                f"(in Python: duckdb.connect({str(Path(db).resolve())!r})).")
    m = _MISSING.search(str(exc))
    return missing_hint(qualified_matches(m["name"], user_tables(con)) if m else [])


def missing_hint(found: list[str]) -> str:
    if len(found) > 1:
        return (f"The name is in more than one schema: write {' or '.join(found)}. "
                "See `purelink inspect --tables`.")
    if found:
        return f"Did you mean {found[0]}? See `purelink inspect --tables`."
    return "Check table names with `purelink inspect --tables`."


def open_db(db: Path):
    from purelink.runtime.destinations.duckdb import connect

    if not db.exists():
        raise PurelinkError(f"There is no database at {db}.",
                            "Run a pipeline first (`purelink demo`), or pass --db PATH.")
    return connect(db, read_only=True, wait_s=5)  # DatabaseBusy: the dispatch shows it


def _print(columns: list[str], rows: list, fmt: str, limit: int) -> None:
    if fmt == "json":
        print(json.dumps([dict(zip(columns, r)) for r in rows], default=str, indent=2))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
        return
    shown = [[_cell(v) for v in r] for r in rows[:limit]]
    widths = [max([len(c)] + [len(r[i]) for r in shown]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in shown:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    if len(rows) > limit:
        print(f"... {len(rows) - limit} more rows")
    if any(v.endswith(CUT) for r in shown for v in r):
        print(f"(values longer than {CELL} characters end in {CUT}; --format json or csv shows them whole)")


CELL, CUT = 60, "…"


def _cell(value) -> str:
    text = "NULL" if value is None else str(value)
    return text if len(text) <= CELL else text[:CELL - 1] + CUT


def from_store(args: argparse.Namespace) -> int:
    """`--destination URL`: the same output, read through the store."""
    import purelink.storage

    with purelink.storage.open(args.destination, args.destination_credential,
                               root=Workspace.at(args.workspace).root) as store:
        if args.query:
            # Arrow, not pandas: an integer column with a NULL stays integers (3421, not 3421.0) and NULL stays NULL
            table = store.query(args.query, arrow=True)
            _print([str(c) for c in table.column_names], list(zip(*(c.to_pylist() for c in table.columns))),
                   args.format, args.limit)
            return 0
        found = store.tables().to_dict("records")
    if args.format == "json":
        print(json.dumps(found, default=int))
    else:
        _print(["schema", "table", "rows"], [(t["schema"], t["table"], t["rows"]) for t in found], args.format, 10_000)
    return 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "destination", None) and not args.destination.startswith("duckdb:"):
        return from_store(args)
    if getattr(args, "destination", None):  # a DuckDB file keeps the short names and hints below
        from purelink.storage.duckdb import DuckDBStore

        args.db = Path(DuckDBStore(args.destination, root=Workspace.at(args.workspace).root).target)
    db = args.db or Workspace.at(args.workspace).default_db
    if args.query:
        columns, rows = query(db, args.query)
        _print(columns, rows, args.format, args.limit)
        return 0
    found = tables(db)
    if args.format == "json":
        print(json.dumps(found))
    else:
        _print(["schema", "table", "rows"], [(t["schema"], t["table"], t["rows"]) for t in found],
               args.format, 10_000)
    return 0
