"""Where loaded data lives: one `Store` interface over DuckDB, PostgreSQL, BigQuery, MotherDuck
and Iceberg tables. `open(url)` picks the store a destination URL names.

    from purelink.storage import DuckDBStore
    db = DuckDBStore("data/purelink.duckdb")
    db.table("stripe.customers")

    with purelink.storage.open("postgresql://etl@warehouse/analytics", credential="WAREHOUSE_PASSWORD") as db:
        db.tables()
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from purelink.errors import PurelinkError
from purelink.storage.base import Store, StoreURL, parse_url

if TYPE_CHECKING:
    from purelink.storage.bigquery import BigQueryStore
    from purelink.storage.duckdb import DuckDBStore, MotherDuckStore
    from purelink.storage.iceberg import IcebergStore
    from purelink.storage.postgres import PostgresStore

# scheme -> "module:Class", imported on first use: a store's client library (google-cloud-bigquery,
# pyiceberg) is paid for only by those who use it, and a new store plugs in with one line here.
REGISTRY = {
    "duckdb": "purelink.storage.duckdb:DuckDBStore",
    "md": "purelink.storage.duckdb:MotherDuckStore",
    "postgresql": "purelink.storage.postgres:PostgresStore",
    "bigquery": "purelink.storage.bigquery:BigQueryStore",
    "iceberg": "purelink.storage.iceberg:IcebergStore",
    "iceberg+postgresql": "purelink.storage.iceberg:IcebergStore",
}
DEFAULT_URL = "duckdb:data/purelink.duckdb"

__all__ = ["DEFAULT_URL", "BigQueryStore", "DuckDBStore", "IcebergStore", "MotherDuckStore", "PostgresStore",
           "Store", "StoreURL", "open", "parse_url", "recipe_store", "run_destination",
           "store_class"]


def store_class(scheme: str) -> type[Store]:
    """The Store class for a URL scheme, or a PurelinkError saying it is not installed."""
    module_name, _, name = REGISTRY[scheme].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and not module_name.startswith(exc.name) and not exc.name.startswith("purelink"):
            raise PurelinkError(f"The {scheme} store needs the Python package {exc.name!r}, which is not installed.",
                                f"Install it (`pip install {exc.name}`) and try again.") from None
        raise PurelinkError(f"The {scheme} store is not installed in this version of Purelink.",
                            "Use duckdb:PATH, postgresql://... or md:DATABASE, or upgrade Purelink.") from None
    return getattr(module, name)


def open(url: str | StoreURL | None = None, credential: str | None = None, *,
         root: str | os.PathLike | None = None) -> Store:
    """The store a destination URL names (default: the workspace's DuckDB file).

    `credential` is the vault name of its password, token or service-account JSON; `root` is the
    workspace a relative DuckDB path is read from (default: the current directory)."""
    url = url if isinstance(url, StoreURL) else parse_url(url or DEFAULT_URL)
    if url.scheme in ("duckdb", "md"):  # a relative DuckDB path is read from the workspace
        from purelink.storage.duckdb import DuckDBStore, MotherDuckStore

        local = MotherDuckStore if url.scheme == "md" else DuckDBStore
        return local(url, credential=credential, root=Path(root) if root else None)
    return store_class(url.scheme)(url, credential=credential)


def __getattr__(name: str) -> Any:
    for scheme, where in REGISTRY.items():
        if where.endswith(f":{name}"):
            return store_class(scheme)
    raise AttributeError(name)


def recipe_store(recipe, *, root: str | os.PathLike | None = None) -> Store:
    """The store a recipe loads into: the one place engine, code generation and CLI resolve it."""
    return open(recipe.destination.store_url, recipe.destination.credential, root=root)


def run_destination(recipe, *, default_schema: str | None, arrow: bool = False) -> tuple[str, dict] | None:
    """What a generated module builds to write the recipe's rows: (runtime class, keyword
    arguments with secrets by name), or None for the workspace's DuckDB file the runner mounts."""
    dest = recipe.destination
    return recipe_store(recipe).runtime_call(schema=default_schema, airbyte_metadata=dest.airbyte_metadata,
                                             arrow=arrow)
