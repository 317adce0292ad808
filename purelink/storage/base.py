"""The one interface every store gives: the runtime's Destination to write, DataFrames to read.

A store is named by a URL everywhere (recipes, `--destination`, `inspect`, `migrate`):

    duckdb:///abs/path/x.duckdb   duckdb:data/x.duckdb (relative to the workspace)
    postgresql://user@host:port/db?schema=raw
    bigquery://PROJECT/DATASET[?endpoint=URL]
    md:DATABASE                   (MotherDuck; token from the vault)
    iceberg:///abs/path/warehouse (SQLite catalog inside)
    iceberg+postgresql://user@host:port/db?warehouse=s3://bucket/prefix[&endpoint=URL]

Credentials never sit in the URL: a store is given the name of a vault secret and resolves it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qsl, urlsplit

from purelink.errors import PurelinkError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from purelink.runtime.destinations.base import Destination

SCHEMES = ("duckdb", "postgresql", "bigquery", "md", "iceberg", "iceberg+postgresql")


@dataclass(frozen=True)
class StoreURL:
    """A destination URL taken apart; `text` is what the user wrote, without any password."""

    text: str
    scheme: str
    netloc: str = ""
    path: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.scheme.split("+")[0]


def parse_url(text: str) -> StoreURL:
    """`text` as a StoreURL, or a PurelinkError naming the forms that work."""
    text = text.strip()
    if text.startswith("md:"):
        return StoreURL(text, "md", path=text[3:].split("?")[0],
                        options=dict(parse_qsl(text.partition("?")[2])))
    parts = urlsplit(text)
    scheme = {"postgres": "postgresql"}.get(parts.scheme, parts.scheme)
    if scheme not in SCHEMES:
        raise PurelinkError(
            f"{text!r} is not a destination URL Purelink knows.",
            "Use one of: duckdb:///path/file.duckdb, postgresql://user@host:5432/db?schema=raw, "
            "bigquery://PROJECT/DATASET, md:DATABASE, iceberg:///abs/path/warehouse, "
            "iceberg+postgresql://user@host/db?warehouse=s3://bucket/prefix.")
    if parts.password:
        raise PurelinkError(
            f"The destination URL for {parts.hostname} carries a password.",
            "Keep the password in the vault (`purelink secrets set NAME`) and give its name with "
            "--destination-credential NAME; URLs are stored in recipes and must hold no secret.")
    return StoreURL(text, scheme, netloc=parts.netloc, path=parts.path,
                    options=dict(parse_qsl(parts.query)))


BOOKKEEPING = "_purelink"


def short_name_path(tables: list[tuple[str, str]], first: list[str]) -> list[str]:
    """The schemas a query's schema-less table names are looked up in, in order: `first` (the
    store's default schema), Purelink's own (`executions`, `state`, ...), then each source's
    schema whose tables no other source's schema also holds. A name two sources share stays
    unresolved (the error names both) rather than one of them being picked silently."""
    owners: dict[str, set[str]] = {}
    for schema, table in tables:
        if schema != BOOKKEEPING and schema not in first:
            owners.setdefault(table.lower(), set()).add(schema)
    shared = {schema for holders in owners.values() if len(holders) > 1 for schema in holders}
    rest = sorted({schema for schemas in owners.values() for schema in schemas} - shared)
    return list(dict.fromkeys([*first, BOOKKEEPING, *rest]))


def resolve_short(name: str, tables: list[tuple[str, str]], first: list[str]) -> tuple[str, str] | None:
    """(schema, table) for `name` ("schema.table", or a table name alone looked up as a query's
    would be, see `short_name_path`); None when nothing, or more than one source, holds it."""
    schema, _, table = name.rpartition(".")
    if schema:
        return schema, table
    for where in short_name_path(tables, first):
        if (where, table) in tables:
            return where, table
    return None


def qualified_matches(name: str, tables: list[tuple[str, str]]) -> list[str]:
    """Every `schema.table` whose table is `name` (any case): what an unknown short name may mean."""
    table = name.rpartition(".")[2].strip('"').lower()
    return sorted(f"{s}.{t}" for s, t in tables if t.lower() == table)


class Store:
    """Write through `destination()`, read through `tables()`, `table()` and `query()`.

    Subclasses set `kind` and implement every method; `credential` is the vault name of the
    secret the store needs (a password, a token, a service-account JSON), resolved when opened.
    """

    kind = ""
    # False when the store's client library is not in the runtime image: the engine then runs the
    # recipe with the local executor and shows `executor_note` once.
    runs_in_container = True
    executor_note = ""

    def __init__(self, url: StoreURL, *, credential: str | None = None) -> None:
        self.url = url
        self.credential = credential

    def destination(self, *, airbyte_metadata: bool = False, schema: str | None = None) -> Destination:
        """The runtime Destination that loads rows into this store (bulk Arrow, merge on key,
        rows and state in one commit, schema drift, dead letters, executions)."""
        raise NotImplementedError

    def tables(self) -> pd.DataFrame:
        """One row per table: columns `schema`, `table`, `rows`, bookkeeping (`_purelink`) included."""
        raise NotImplementedError

    def table(self, name: str, *, arrow: bool = False, limit: int | None = None) -> pd.DataFrame | pa.Table:
        """Table `name` ("schema.table", or "table" in the default schema) as a DataFrame."""
        raise NotImplementedError

    def query(self, sql: str, *, arrow: bool = False) -> pd.DataFrame | pa.Table:
        """The result of `sql` in the store's own dialect."""
        raise NotImplementedError

    def location(self) -> str:
        """Where the data is, for people: a file path, `project.dataset`, a warehouse URL."""
        return self.url.text

    # The executions and table-owners tables as `query()` names them.
    executions_sql = "_purelink.executions"
    tables_sql = "_purelink.tables"

    def landed(self, pipeline: str) -> dict[str, tuple[str, str]]:
        """stream -> (schema, table) its rows went to in `pipeline`'s latest run that read it (the
        `table` each finished stream has in `_purelink.executions.streams`). Empty when the store
        cannot tell: no run yet, or executions written before streams named their table."""
        quoted = pipeline.replace("'", "''")
        try:
            rows = self.query(f"SELECT streams FROM {self.executions_sql} WHERE pipeline = '{quoted}' "
                              "AND streams IS NOT NULL ORDER BY started_at DESC LIMIT 50", arrow=True)
        except PurelinkError:  # no executions table, or one without the streams column
            return {}
        found: dict[str, tuple[str, str]] = {}
        for value in rows.column("streams").to_pylist():
            streams = json.loads(value) if isinstance(value, str) else value
            for name, stream in (streams or {}).items():
                table = stream.get("table") if isinstance(stream, dict) else None
                if isinstance(table, str) and "." in table:
                    schema, _, rest = table.partition(".")
                    found.setdefault(name, (schema, rest))
        return found

    def owners(self) -> dict[tuple[str, str], str]:
        """(schema, table) -> the recipe whose table it is (`_purelink.tables`, which a run fills when it
        creates a table). Empty when the store keeps no such record."""
        try:
            rows = self.query(f"SELECT schema_name, table_name, pipeline FROM {self.tables_sql}", arrow=True)
        except PurelinkError:
            return {}
        names = [rows.column(c).to_pylist() for c in ("schema_name", "table_name", "pipeline")]
        return {(schema, table): pipeline for schema, table, pipeline in zip(*names, strict=True)}

    # -- for generated modules and runners (added with the DuckDB/PostgreSQL stores) ---------
    def runtime_call(self, *, schema: str | None = None, airbyte_metadata: bool = False,
                     arrow: bool = False) -> tuple[str, dict[str, Any]] | None:
        """The `purelink.runtime` class a generated module builds to write here, and its keyword
        arguments (secrets by NAME only); None for a local DuckDB file, which the runner mounts
        and hands over with --db. `schema` is the source's default schema, `arrow` asks for a
        destination that takes Arrow batches (database sources)."""
        raise PurelinkError(f"Generated modules cannot load into {self.kind} yet.",
                            "Load into DuckDB or PostgreSQL and `purelink migrate` the data.")

    def secret_names(self) -> list[str]:
        """The vault names a run that writes here needs (handed to the container's secrets file)."""
        return [self.credential] if self.credential else []

    def optional_secret_names(self) -> list[str]:
        """Those of `secret_names` a run may go without (the server decides: a PostgreSQL password)."""
        return []

    # -- bulk copy, for `purelink migrate` -----------------------------------------------------
    def columns(self, schema: str, table: str) -> dict[str, str | None]:
        """Column -> its type in the runtime's lattice (boolean, bigint, double, varchar, json,
        timestamptz), or None for a type outside it (the copy then keeps the Arrow type)."""
        raise NotImplementedError

    def write_table(self, schema: str, table: str, data: pa.Table, logical: dict[str, str | None], *,
                    replace: bool = True) -> None:
        """Put `data` into schema.table in one transaction: `replace` makes the table anew (types
        from `logical`, else from Arrow); otherwise its rows replace the existing table's rows
        (bookkeeping tables, which the store's Destination created with their keys)."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
