"""What a PostgreSQL server offers, for the wizard's stream and column checklists.

One catalog query answers everything: schemas, tables and views the user may SELECT, their
columns with types, nullability and comments, primary keys, a row estimate, and the column an
incremental sync would use as cursor. Engine side (the runtime never needs it).

    tables = list_tables("postgresql://etl@db:5432/refills", password)
    [t.stream for t in tables]   # ['refills', 'audit.events']
"""

from __future__ import annotations

from dataclasses import dataclass, field

from purelink.errors import CredentialError, SourceError
from purelink.runtime import pg
from purelink.runtime.sources.postgres import guess_cursor

CURSOR_TYPES = ("timestamp with time zone", "timestamp without time zone", "date", "bigint", "integer")
KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table"}

CATALOG_SQL = """
SELECT n.nspname, c.relname, c.relkind::text, c.reltuples::bigint, obj_description(c.oid, 'pg_class'),
       a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, col_description(c.oid, a.attnum),
       array_position(i.indkey::int2[], a.attnum)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', '_purelink')
  AND n.nspname NOT LIKE 'pg\\_%' AND has_table_privilege(c.oid, 'SELECT')
ORDER BY n.nspname, c.relname, a.attnum
"""


@dataclass
class Column:
    name: str
    type: str  # as PostgreSQL spells it: numeric(12,3), timestamp with time zone, text[]
    nullable: bool
    comment: str | None = None


@dataclass
class TableInfo:
    schema: str
    name: str
    kind: str
    estimated_rows: int | None
    comment: str | None
    columns: list[Column] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    database: str | None = None

    @property
    def stream(self) -> str:
        """The stream name a recipe uses: `table` in public, else `schema.table`."""
        base = self.name if self.schema == "public" else f"{self.schema}.{self.name}"
        return f"{self.database}.{self.schema}.{self.name}" if self.database else base

    @property
    def cursor(self) -> str | None:
        """The column an incremental sync would follow, by the runtime's naming convention."""
        # The same choice the runtime makes (names compared without case or underscores), so what
        # the checklist promises is what the run does.
        return guess_cursor({c.name: "timestamptz" if c.type.startswith(CURSOR_TYPES) else None
                             for c in self.columns})

    @property
    def description(self) -> str:
        """One line for the checklist: the comment, else what the table holds."""
        rows = f"~{self.estimated_rows:,} rows" if self.estimated_rows is not None else "rows unknown"
        key = f"key {', '.join(self.primary_key)}" if self.primary_key else "no primary key"
        sync = f"incremental by {self.cursor}" if self.cursor else "full reload each run"
        return f"{self.comment + ' - ' if self.comment else ''}{self.kind}, {rows}, {key}, {sync}"


def connect(url: str, password: str | None, database: str | None = None):
    """An ADBC connection with a password value (the engine holds it from the vault)."""
    dbapi = pg.driver()
    try:
        return dbapi.connect(pg.connection_uri(url, password, database))
    except dbapi.Error as exc:
        message = pg.first_line(exc)
        where = pg.describe(url, database)
        if "password authentication failed" in message or "no password supplied" in message:
            raise CredentialError(f"PostgreSQL at {where} rejected the password.",
                                  "Check the user name in the form and type the password again.") from None
        raise SourceError(f"Cannot connect to PostgreSQL at {where}: {message}",
                          "Check host, port and database; the server must accept connections from this "
                          "machine (listen_addresses, pg_hba.conf).") from None


def check_connection(url: str, password: str | None) -> str:
    """The live health check of the credentials stage: connects once and returns the server version."""
    con = connect(url, password)
    try:
        cur = con.cursor()
        return pg.fetch(cur, "SELECT current_setting('server_version')")[0][0]
    finally:
        con.close()


def list_databases(url: str, password: str | None) -> list[str]:
    con = connect(url, password)
    try:
        return [r[0] for r in pg.fetch(con.cursor(), "SELECT datname FROM pg_database WHERE datallowconn "
                                                     "AND NOT datistemplate AND has_database_privilege(datname, "
                                                     "'CONNECT') ORDER BY datname")]
    finally:
        con.close()


def list_tables(url: str, password: str | None, *, database: str | None = None,
                schemas: list[str] | None = None) -> list[TableInfo]:
    """Every table and view the user may read, with columns and keys, in schema and name order."""
    con = connect(url, password, database)
    try:
        rows = pg.fetch(con.cursor(), CATALOG_SQL)
    finally:
        con.close()
    tables: dict[tuple[str, str], TableInfo] = {}
    keys: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for schema, name, kind, estimate, comment, column, kind_name, nullable, col_comment, key_pos in rows:
        if schemas and schema not in schemas:
            continue
        info = tables.get((schema, name))
        if info is None:
            info = tables[(schema, name)] = TableInfo(
                schema, name, KINDS.get(kind, kind), estimate if estimate is not None and estimate >= 0 else None,
                comment, database=database)
        info.columns.append(Column(column, kind_name, bool(nullable), col_comment))
        if key_pos is not None:
            keys.setdefault((schema, name), []).append((key_pos, column))
    for key, found in keys.items():
        tables[key].primary_key = [c for _, c in sorted(found)]
    return list(tables.values())


def list_schemas(url: str, password: str | None, *, database: str | None = None) -> list[str]:
    return sorted({t.schema for t in list_tables(url, password, database=database)})


def stream_choices(url: str, password: str | None, *, database: str | None = None) -> list[dict]:
    """The stream checklist, in the shape the wizard shows for API sources."""
    return [{"name": t.stream, "description": t.description, "primary_key": t.primary_key,
             "cursor_field": t.cursor, "columns": [{"name": c.name, "type": c.type, "nullable": c.nullable,
                                                     "description": c.comment or ""} for c in t.columns]}
            for t in list_tables(url, password, database=database)]
