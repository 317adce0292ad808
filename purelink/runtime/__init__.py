"""What generated pipelines import. Depends on httpx, duckdb and pyarrow only, and on nothing
else of purelink, so it runs the same in a slim container as in a notebook.

Names are loaded on first use: `purelink.errors` extends `purelink.runtime.errors`, and the
command line and `%load_ext purelink` should not pay for pyarrow and duckdb before they need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "BasicAuth": "auth", "BearerAuth": "auth", "HeaderAuth": "auth", "NoAuth": "auth", "QueryAuth": "auth",
    "Batch": "destinations.base", "Destination": "destinations.base",
    "DuckDBDestination": "destinations.duckdb", "PostgresDestination": "destinations.postgres",
    "DuckDBArrowDestination": "destinations.duckdb_arrow",
    # The cloud destinations import their client libraries only when they open.
    "BigQueryDestination": "destinations.bigquery", "IcebergDestination": "destinations.iceberg",
    "DatabaseBusy": "errors", "RuntimeFailure": "errors",
    "CursorPagination": "paginators", "GraphQLPagination": "paginators", "LinkHeaderPagination": "paginators",
    "NextUrlPagination": "paginators",
    "OffsetPagination": "paginators", "PageNumberPagination": "paginators", "SinglePage": "paginators",
    "main": "pipeline", "run": "pipeline",
    "PostgresSource": "sources.postgres", "Query": "sources.postgres", "Table": "sources.postgres",
    "RestSource": "sources.rest", "Stream": "sources.rest",
    "sql_main": "sql_pipeline", "sql_run": "sql_pipeline",
    "Validation": "validate",
    "TimeFilter": "windows",
}

__all__ = [
    "BasicAuth",
    "Batch",
    "BearerAuth",
    "BigQueryDestination",
    "CursorPagination",
    "DatabaseBusy",
    "Destination",
    "DuckDBArrowDestination",
    "DuckDBDestination",
    "GraphQLPagination",
    "HeaderAuth",
    "IcebergDestination",
    "LinkHeaderPagination",
    "NextUrlPagination",
    "NoAuth",
    "OffsetPagination",
    "PageNumberPagination",
    "PostgresDestination",
    "PostgresSource",
    "Query",
    "QueryAuth",
    "RestSource",
    "RuntimeFailure",
    "SinglePage",
    "Stream",
    "Table",
    "TimeFilter",
    "Validation",
    "main",
    "run",
    "sql_main",
    "sql_run",
]

if TYPE_CHECKING:
    from purelink.runtime.auth import BasicAuth, BearerAuth, HeaderAuth, NoAuth, QueryAuth
    from purelink.runtime.destinations.base import Batch, Destination
    from purelink.runtime.destinations.bigquery import BigQueryDestination
    from purelink.runtime.destinations.duckdb import DuckDBDestination
    from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination
    from purelink.runtime.destinations.iceberg import IcebergDestination
    from purelink.runtime.destinations.postgres import PostgresDestination
    from purelink.runtime.errors import DatabaseBusy, RuntimeFailure
    from purelink.runtime.paginators import (
        CursorPagination,
        GraphQLPagination,
        LinkHeaderPagination,
        NextUrlPagination,
        OffsetPagination,
        PageNumberPagination,
        SinglePage,
    )
    from purelink.runtime.pipeline import main, run
    from purelink.runtime.sources.postgres import PostgresSource, Query, Table
    from purelink.runtime.sources.rest import RestSource, Stream
    from purelink.runtime.sql_pipeline import sql_main, sql_run
    from purelink.runtime.validate import Validation
    from purelink.runtime.windows import TimeFilter


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'purelink.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"purelink.runtime.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
