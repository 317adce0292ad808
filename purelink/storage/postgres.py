"""A PostgreSQL database as a store: the runtime's PostgresDestination to write, ADBC to read.

    PostgresStore("postgresql://etl@warehouse:5432/analytics?schema=raw", credential="WAREHOUSE_PASSWORD")

`?schema=` is where a run's tables land (without it: the source's name, as in DuckDB); it is
Purelink's option, taken off the URL before libpq sees it. The password is a vault secret.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from purelink.errors import CredentialError, PurelinkError, RuntimeFailure
from purelink.storage.base import (
    Store,
    StoreURL,
    parse_url,
    qualified_matches,
    resolve_short,
    short_name_path,
)

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_PASSWORD = "WAREHOUSE_PASSWORD"
# format_type() spelling -> the runtime's lattice, and back
LOGICAL = {"boolean": "boolean", "bigint": "bigint", "double precision": "double", "text": "varchar",
           "jsonb": "json", "json": "json", "timestamp with time zone": "timestamptz"}
SQL_TYPES = {"boolean": "boolean", "bigint": "bigint", "double": "double precision", "varchar": "text",
             "json": "jsonb", "timestamptz": "timestamptz"}
SYSTEM = ("pg_catalog", "information_schema", "pg_toast")
_MISSING = re.compile(r'relation "(?P<name>[^"]+)" does not exist')


class PostgresStore(Store):
    """A PostgreSQL database; `schema` (or `?schema=`) is where runs load."""

    kind = "postgresql"

    def __init__(self, url: str | StoreURL, *, credential: str | None = None, schema: str | None = None) -> None:
        url = url if isinstance(url, StoreURL) else parse_url(url)
        if url.scheme != "postgresql":
            raise PurelinkError(f"{url.text!r} is not a PostgreSQL URL.",
                                "Write it as postgresql://USER@HOST:PORT/DATABASE?schema=raw (no password).")
        super().__init__(url, credential=credential)
        self.schema = schema or url.options.get("schema")

    @property
    def connection_url(self) -> str:
        """The URL libpq is given: Purelink's own options (schema) taken off."""
        parts = urlsplit(self.url.text)
        rest = {k: v for k, v in self.url.options.items() if k != "schema"}
        return urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(rest), ""))

    def password_name(self) -> str:
        return self.credential or DEFAULT_PASSWORD

    def secret_names(self) -> list[str]:
        return [self.password_name()]

    def optional_secret_names(self) -> list[str]:
        return [self.password_name()]

    def runtime_call(self, *, schema: str | None = None, airbyte_metadata: bool = False,
                     arrow: bool = False) -> tuple[str, dict[str, Any]]:
        return "PostgresDestination", {"url": self.connection_url, "password": self.password_name(),
                                       "schema": self.schema or schema or "raw",
                                       "airbyte_metadata": airbyte_metadata or None}

    def destination(self, *, airbyte_metadata: bool = False, schema: str | None = None, arrow: bool = False):
        from purelink.runtime.destinations.postgres import PostgresDestination

        self._provide_secrets()
        _, kwargs = self.runtime_call(schema=schema, airbyte_metadata=airbyte_metadata)
        kwargs["airbyte_metadata"] = airbyte_metadata
        return PostgresDestination(**kwargs)

    def _provide_secrets(self) -> None:
        """Hand the password to the runtime in this process, when there is one: a server may need
        none of ours (~/.pgpass, PGPASSFILE, trust), and one that asks says which secret to set."""
        from purelink.runtime.auth import provide
        from purelink.secrets.resolve import resolve_secret

        name = self.password_name()
        try:
            value = resolve_secret(name, env_vars=[name], interactive=False, label=f"password for {self.url.text}")
        except CredentialError:
            return
        provide({name: value.reveal()})

    @contextmanager
    def connection(self):
        """An ADBC connection for this moment; committed when the block ends without error."""
        from purelink.runtime import pg

        self._provide_secrets()
        try:
            con = pg.connect(self.connection_url, password=self.password_name(), role="warehouse")
        except RuntimeFailure as exc:
            raise PurelinkError(exc.message, exc.guidance) from None
        try:
            yield con
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            con.close()

    def _arrow(self, sql: str, params: list | None = None, *, short_names: bool = False) -> pa.Table:
        from purelink.runtime import pg
        from purelink.runtime.arrow_batch import normalize

        with self.connection() as con, con.cursor() as cur:
            found: list[tuple[str, str]] = []
            if short_names:
                # Tables answer to their short names (`executions`, `customers`) as in DuckDB, where
                # only one source's schema holds the name (see short_name_path).
                found = self._user_tables(cur)
                path = ", ".join(pg.quote(s) for s in short_name_path(found, [self.schema or "public"]))
                pg.fetch(cur, "SELECT set_config('search_path', $1, false)", [path])
            try:
                cur.execute(sql, parameters=params) if params else cur.execute(sql)
                # numeric(p,s) arrives as opaque text; normalize makes it the decimal it is
                return normalize(cur.fetch_arrow_table())
            except pg.driver().Error as exc:
                missing = _MISSING.search(pg.first_line(exc))
                matches = qualified_matches(missing["name"], found) if missing else []
                hint = ("Fix the SQL (PostgreSQL dialect); list the tables with `purelink inspect --tables`."
                        if not matches else f"The table is {' or '.join(matches)}: write the schema too"
                        + (" (more than one schema holds that name)." if len(matches) > 1 else "."))
                raise PurelinkError(f"The query failed: {pg.first_line(exc)}", hint) from None

    def _user_tables(self, cur) -> list[tuple[str, str]]:
        from purelink.runtime import pg

        return [(s, t) for s, t in pg.fetch(
            cur, "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema <> ALL($1)",
            [list(SYSTEM)])]

    # -- reading ---------------------------------------------------------------------------
    def tables(self):
        import pandas as pd

        from purelink.runtime import pg

        with self.connection() as con, con.cursor() as cur:
            # a whole-table reload's staging tables (in _purelink) are not the user's data
            names = pg.fetch(cur, "SELECT table_schema, table_name FROM information_schema.tables "
                                  "WHERE table_type = 'BASE TABLE' AND table_schema <> ALL($1) "
                                  "AND NOT (table_schema = '_purelink' AND table_name LIKE 'stage\\_%') "
                                  "ORDER BY 1, 2", [list(SYSTEM)])
            rows = [(s, t, pg.fetch(cur, f"SELECT count(*) FROM {pg.qualified(s, t)}")[0][0]) for s, t in names]
        return pd.DataFrame(rows, columns=["schema", "table", "rows"])

    def table(self, name: str, *, arrow: bool = False, limit: int | None = None):
        from purelink.runtime import pg

        schema, _, table = name.rpartition(".")
        schema = schema or self.schema or "public"
        if "." not in name:  # a short name: where a query would find it (executions, customers)
            with self.connection() as con, con.cursor() as cur:
                schema, table = resolve_short(name, self._user_tables(cur), [schema]) or (schema, table)
        if not self.columns(schema, table):
            raise PurelinkError(f"There is no table {schema}.{table} in {self.location()}.",
                                "See the tables with `purelink inspect --tables` (or store.tables()).")
        sql = f"SELECT * FROM {pg.qualified(schema, table)}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        data = self._arrow(sql)
        return data if arrow else data.to_pandas()

    def query(self, sql: str, *, arrow: bool = False):
        data = self._arrow(sql, short_names=True)
        return data if arrow else data.to_pandas()

    # -- bulk copy (migrate) ---------------------------------------------------------------
    def columns(self, schema: str, table: str) -> dict[str, str | None]:
        from purelink.runtime import pg

        with self.connection() as con, con.cursor() as cur:
            rows = pg.fetch(cur, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                                 "WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped "
                                 "ORDER BY attnum", [pg.qualified(schema, table)])
        return {c: LOGICAL.get(t) for c, t in rows}

    def write_table(self, schema: str, table: str, data: pa.Table, logical: dict[str, str | None], *,
                    replace: bool = True) -> None:
        """`data` into schema.table in one transaction, through a staging table loaded by binary COPY."""
        from purelink.runtime import pg
        from purelink.runtime.arrow_batch import pg_type, warehouse_ready

        target = pg.qualified(schema, table)
        data = warehouse_ready(data)
        with self.connection() as con, con.cursor() as cur:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {pg.quote(schema)}")
            existing = {c for c, _ in pg.fetch(cur, "SELECT attname, 1 FROM pg_attribute WHERE attrelid = "
                                                    "to_regclass($1) AND attnum > 0 AND NOT attisdropped",
                                               [target])}
            cur.execute("DROP TABLE IF EXISTS purelink_copy")
            cur.adbc_ingest("purelink_copy", data, mode="create", temporary=True)
            if replace:
                cur.execute(f"DROP TABLE IF EXISTS {target}")
                defs = ", ".join(f"{pg.quote(f.name)} {SQL_TYPES[kind] if (kind := logical.get(f.name)) else pg_type(f)}"
                                 for f in data.schema)
                cur.execute(f"CREATE TABLE {target} ({defs})")
                names = data.column_names
            else:
                names = [c for c in data.column_names if c in existing]
                cur.execute(f"DELETE FROM {target}")
            types = dict(pg.fetch(cur, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                                       "WHERE attrelid = to_regclass($1) AND attnum > 0", [target]))
            # COPY sends JSON and timestamps as Arrow text or values; the cast makes them the column's type
            select = ", ".join(f"{pg.quote(c)}::{types[c]}" for c in names)
            cur.execute(f"INSERT INTO {target} ({', '.join(map(pg.quote, names))}) SELECT {select} FROM purelink_copy")
            cur.execute("DROP TABLE purelink_copy")

    def location(self) -> str:
        from purelink.runtime import pg

        return f"postgresql://{pg.describe(self.connection_url)}"
