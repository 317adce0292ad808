"""DuckDB files and MotherDuck databases: one code path, the runtime's DuckDB destination.

Reads open the file read-only for the moment of the read, as `purelink inspect` does, so a
running load (DuckDB's one writer per file) is never blocked by a notebook that looks.

    DuckDBStore("data/purelink.duckdb").table("stripe.customers")
    MotherDuckStore("md:analytics", credential="MOTHERDUCK_TOKEN")
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from purelink.errors import DatabaseBusy, PurelinkError, RuntimeFailure
from purelink.storage.base import Store, StoreURL, parse_url, resolve_short, short_name_path

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_TOKEN = "MOTHERDUCK_TOKEN"
# The lattice of the runtime's records (what a Destination declares) from duckdb_columns() spelling.
LOGICAL = {"BOOLEAN": "boolean", "BIGINT": "bigint", "DOUBLE": "double", "VARCHAR": "varchar", "JSON": "json",
           "TIMESTAMP WITH TIME ZONE": "timestamptz"}
SQL_TYPES = {"boolean": "BOOLEAN", "bigint": "BIGINT", "double": "DOUBLE", "varchar": "VARCHAR", "json": "JSON",
             "timestamptz": "TIMESTAMPTZ"}


def duckdb_url(path_or_url: str | os.PathLike) -> StoreURL:
    """A path (`data/x.duckdb`) or a `duckdb:` URL as a StoreURL."""
    text = str(path_or_url)
    if text.startswith(("duckdb:", "md:")):
        return parse_url(text)
    return StoreURL(f"duckdb:{text}", "duckdb", path=text)


def file_of(url: StoreURL, root: Path | None = None) -> Path:
    """`duckdb:///abs/x.duckdb` -> /abs/x.duckdb; `duckdb:data/x.duckdb` relative to the workspace."""
    path = Path(url.path or "data/purelink.duckdb")
    return path if path.is_absolute() else (root or Path.cwd()) / path


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def user_tables(con) -> list[tuple[str, str]]:
    return [(s, t) for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                           "WHERE database_name = current_database()").fetchall()]


def use_short_names(con, default_schema: str = "main") -> None:
    """Let this connection's queries name tables without their schema (`executions`, `customers`),
    see `short_name_path`. Each entry names the catalog too: a file called stripe.duckdb holds a
    catalog `stripe` that a bare schema `stripe` would be ambiguous with."""
    catalog = con.execute("SELECT current_database()").fetchone()[0]
    # only schemas the file has: one without Purelink's bookkeeping (any DuckDB file) is queried too
    have = {s for (s,) in con.execute("SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?",
                                      [catalog]).fetchall()}
    path = ",".join(f"{quote(catalog)}.{quote(schema)}"
                    for schema in short_name_path(user_tables(con), [default_schema]) if schema in have)
    con.execute("SET search_path = '" + path.replace("'", "''") + "'")


def split_name(name: str, default_schema: str = "main") -> tuple[str, str]:
    schema, _, table = name.rpartition(".")
    return (schema or default_schema), table


class DuckDBStore(Store):
    """A DuckDB file: `DuckDBStore("data/purelink.duckdb")` or `DuckDBStore("duckdb:///abs/x.duckdb")`."""

    kind = "duckdb"

    def __init__(self, path_or_url: str | os.PathLike | StoreURL = "data/purelink.duckdb", *,
                 credential: str | None = None, root: str | os.PathLike | None = None) -> None:
        url = path_or_url if isinstance(path_or_url, StoreURL) else duckdb_url(path_or_url)
        super().__init__(url, credential=credential)
        self.root = Path(root) if root else None
        self.schema = url.options.get("schema")

    @property
    def target(self) -> str:
        """What DuckDB attaches: the file's path (or `md:DATABASE` for MotherDuck)."""
        return str(file_of(self.url, self.root))

    def _token(self) -> str | None:
        return None

    def runtime_call(self, *, schema: str | None = None, airbyte_metadata: bool = False,
                     arrow: bool = False) -> tuple[str, dict[str, Any]] | None:
        # The runner mounts the file and passes it with --db: a generated module needs no object.
        return None

    def secret_names(self) -> list[str]:
        return []

    def destination(self, *, airbyte_metadata: bool = False, schema: str | None = None, arrow: bool = False):
        from purelink.runtime.destinations.duckdb import DuckDBDestination
        from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination

        self._provide_secrets()
        kind = DuckDBArrowDestination if arrow else DuckDBDestination
        return kind(self.target, airbyte_metadata=airbyte_metadata, token=self._token())

    def _provide_secrets(self) -> None:
        """Hand the vault's values to the runtime in this process (they are read by name there)."""
        from purelink.runtime.auth import provide

        names = self.secret_names()
        if names:
            from purelink.secrets.resolve import resolve_secret

            provide({n: resolve_secret(n, env_vars=[n], interactive=False, label=f"secret {n}").reveal()
                     for n in names})

    @contextmanager
    def connection(self, *, write: bool = False):
        """A connection for this moment only (read-only unless `write`), then closed."""
        from purelink.runtime.destinations.duckdb import connect

        if not self.url.text.startswith("md:") and not Path(self.target).exists():
            if not write:
                raise PurelinkError(f"There is no DuckDB file at {self.target}.",
                                    "Run a recipe first (`purelink recipes run NAME`), or give the path of an "
                                    "existing file.")
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
        self._provide_secrets()
        try:
            con = connect(self.target, read_only=not write, token=self._token())
        except RuntimeFailure as exc:
            if isinstance(exc, PurelinkError | DatabaseBusy):
                raise
            raise PurelinkError(exc.message, exc.guidance) from None
        try:
            yield con
        finally:
            con.close()

    # -- reading ---------------------------------------------------------------------------
    def tables(self):
        import pandas as pd

        with self.connection() as con:
            names = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                "WHERE database_name = current_database() ORDER BY 1, 2").fetchall()
            rows = [(s, t, con.execute(f"SELECT count(*) FROM {quote(s)}.{quote(t)}").fetchall()[0][0])
                    for s, t in names]
        return pd.DataFrame(rows, columns=["schema", "table", "rows"])

    def table(self, name: str, *, arrow: bool = False, limit: int | None = None):
        from purelink.runtime.destinations.duckdb_arrow import dataframe_select

        schema, table = split_name(name, self.schema or "main")
        with self.connection() as con:
            if "." not in name:  # a short name: where a query would find it (executions, customers)
                schema, table = resolve_short(name, user_tables(con), [self.schema or "main"]) or (schema, table)
            found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                                "AND schema_name = ? AND table_name = ?", [schema, table]).fetchall()[0][0]
            if not found:
                raise PurelinkError(f"There is no table {schema}.{table} in {self.location()}.",
                                    "See the tables with `purelink inspect --tables` (or store.tables()).")
            columns = "*" if arrow else dataframe_select(con, schema, table)  # infinities, timetz
            sql = f"SELECT {columns} FROM {quote(schema)}.{quote(table)}"
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            rel = con.sql(sql)
            return rel.to_arrow_table() if arrow else rel.df()

    def query(self, sql: str, *, arrow: bool = False):
        import duckdb

        with self.connection() as con:
            try:
                use_short_names(con, self.schema or "main")
                rel = con.sql(sql)
            except duckdb.Error as exc:
                raise PurelinkError(f"The query failed: {str(exc).splitlines()[0]}",
                                    "Fix the SQL (DuckDB dialect); list the tables with `purelink inspect "
                                    "--tables`.") from None
            if rel is None:
                raise PurelinkError("The query returned no result set.", "Give a SELECT statement.")
            return rel.to_arrow_table() if arrow else rel.df()

    # -- bulk copy (migrate) ---------------------------------------------------------------
    def columns(self, schema: str, table: str) -> dict[str, str | None]:
        """Column -> its logical type in the runtime's lattice (None: a type outside it)."""
        with self.connection() as con:
            rows = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
                               "current_database() AND schema_name = ? AND table_name = ? ORDER BY column_index",
                               [schema, table]).fetchall()
        return {c: LOGICAL.get(t) for c, t in rows}

    def write_table(self, schema: str, table: str, data: pa.Table, logical: dict[str, str | None], *,
                    replace: bool = True) -> None:
        """Put `data` into schema.table in one transaction: a new table (types from `logical`, else
        from Arrow) when `replace`, else its rows replace those of the existing table."""
        target = f"{quote(schema)}.{quote(table)}"
        with self.connection(write=True) as con:
            con.register("purelink_copy", data)
            con.execute("BEGIN")
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
            if replace:
                select = ", ".join(
                    f"CAST({quote(c)} AS {SQL_TYPES[kind]}) AS {quote(c)}" if (kind := logical.get(c)) else quote(c)
                    for c in data.column_names)
                con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT {select} FROM purelink_copy")
            else:
                existing = self._existing(con, schema, table)
                names = [c for c in data.column_names if c in existing]
                con.execute(f"DELETE FROM {target}")
                con.execute(f"INSERT INTO {target} ({', '.join(map(quote, names))}) "
                            f"SELECT {', '.join(map(quote, names))} FROM purelink_copy")
            con.execute("COMMIT")

    @staticmethod
    def _existing(con, schema: str, table: str) -> set[str]:
        return {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE database_name = "
                                          "current_database() AND schema_name = ? AND table_name = ?",
                                          [schema, table]).fetchall()}

    def location(self) -> str:
        return self.target


class MotherDuckStore(DuckDBStore):
    """A MotherDuck database, `MotherDuckStore("md:analytics")`: DuckDB's code with its `md:` path.

    The token is a vault secret (default MOTHERDUCK_TOKEN) given to DuckDB as `motherduck_token`,
    never written into the path, which events and logs show."""

    kind = "md"

    def __init__(self, url: str | StoreURL, *, credential: str | None = None,
                 root: str | os.PathLike | None = None) -> None:
        url = url if isinstance(url, StoreURL) else parse_url(url)
        if url.scheme != "md" or not url.path:
            raise PurelinkError(f"{url.text!r} is not a MotherDuck URL.", "Write it as md:DATABASE.")
        super().__init__(url, credential=credential, root=root)

    @property
    def target(self) -> str:
        return f"md:{self.url.path}"

    def _token(self) -> str:
        return self.credential or DEFAULT_TOKEN

    def secret_names(self) -> list[str]:
        return [self._token()]

    def runtime_call(self, *, schema: str | None = None, airbyte_metadata: bool = False,
                     arrow: bool = False) -> tuple[str, dict[str, Any]]:
        return ("DuckDBArrowDestination" if arrow else "DuckDBDestination",
                {"path": self.target, "token": self._token(), "airbyte_metadata": airbyte_metadata or None})

    def location(self) -> str:
        return self.target
