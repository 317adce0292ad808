"""What generated pipelines import. Depends on httpx, duckdb and pyarrow only, and on nothing
else of purelink, so it runs the same in a slim container as in a notebook."""

from purelink.runtime.auth import BasicAuth, BearerAuth, HeaderAuth, NoAuth, QueryAuth
from purelink.runtime.destination import Batch, Destination
from purelink.runtime.duckdb_destination import DuckDBDestination
from purelink.runtime.errors import DatabaseBusy, RuntimeFailure
from purelink.runtime.paginators import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    OffsetPagination,
    PageNumberPagination,
    SinglePage,
)
from purelink.runtime.pipeline import main, run
from purelink.runtime.postgres_destination import PostgresDestination
from purelink.runtime.source import RestSource, Stream
from purelink.runtime.sql_pipeline import sql_main, sql_run
from purelink.runtime.sql_source import PostgresSource, Query, Table
from purelink.runtime.validate import Validation
from purelink.runtime.windows import TimeFilter

__all__ = [
    "BasicAuth",
    "Batch",
    "BearerAuth",
    "CursorPagination",
    "DatabaseBusy",
    "Destination",
    "DuckDBDestination",
    "HeaderAuth",
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
