"""What generated pipelines import. Depends on httpx, duckdb and pyarrow only, and on nothing
else of purelink, so it runs the same in a slim container as in a notebook."""

from purelink.runtime.auth import BasicAuth, BearerAuth, HeaderAuth, NoAuth, QueryAuth
from purelink.runtime.destinations.base import Batch, Destination
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.destinations.postgres import PostgresDestination
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
from purelink.runtime.sources.postgres import PostgresSource, Query, Table
from purelink.runtime.sources.rest import RestSource, Stream
from purelink.runtime.sql_pipeline import sql_main, sql_run
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
