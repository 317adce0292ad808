"""What a generated pipeline declares: a REST source and its streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from purelink.runtime.auth import NoAuth
from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.events import DEFAULT_BURST_S
from purelink.runtime.formats import time_columns
from purelink.runtime.paginators import CursorPagination, Paginator
from purelink.runtime.records import clash, column_name
from purelink.runtime.validate import Validation
from purelink.runtime.windows import TimeFilter


@dataclass
class Stream:
    """One endpoint loaded into one table.

    Example::

        Stream("customers", path="/customers", primary_key="id",
               time_filter=TimeFilter("created", gte="created[gte]", lt="created[lt]"),
               start="2024-01-01", columns=["id", "email", "address.city"],
               validations=[Validation("email", "email")])
    """

    name: str
    path: str
    primary_key: str | tuple[str, ...] | None = "id"
    records_path: str | None = None  # None: the source's default
    params: dict[str, Any] = field(default_factory=dict)
    time_filter: TimeFilter | None = None
    start: str | None = None  # history start (ISO date) for time-filtered streams
    lookback_s: int = 0
    columns: list[str] | None = None  # None: every field
    #: field -> "unix-seconds" / "unix-ms": loaded as TIMESTAMPTZ (purelink.runtime.formats)
    formats: dict[str, str] = field(default_factory=dict)
    validations: list[Validation] = field(default_factory=list)
    max_bad_share: float = 0.05
    table: str | None = None
    paginator: Paginator | None = None

    def __post_init__(self) -> None:
        if self.columns and (both := clash(self.columns)):
            raise RuntimeFailure(f"Stream {self.name!r} chooses the fields {both[0]!r} and {both[1]!r}, which one column "
                                 f"({column_name(both[1])!r}) would hold: the second's values would overwrite the first's.",
                                 "Keep one of them in the stream's columns (`purelink recipes new NAME --update "
                                 f"--columns {self.name}:...`).")

    @property
    def key(self) -> tuple[str, ...]:
        if not self.primary_key:
            return ()
        return (self.primary_key,) if isinstance(self.primary_key, str) else tuple(self.primary_key)

    @property
    def columns_with_key(self) -> list[str] | None:
        if self.columns is None:
            return None
        return [*(k for k in self.key if k not in self.columns), *self.columns]

    @property
    def time_columns(self) -> dict[str, str]:
        """Declared Unix-time fields by the column they land in; without a column selection a
        nested field stays inside its JSON object, so only top-level fields count."""
        if self.columns is None:
            return {p: u for p, u in self.formats.items() if "." not in p}
        chosen = set(self.columns_with_key or ())
        return time_columns({p: u for p, u in self.formats.items() if p in chosen})


@dataclass
class RestSource:
    """An HTTP API: where it is, how to authenticate, how fast to go, how it pages."""

    name: str
    base_url: str
    auth: Any = field(default_factory=NoAuth)
    paginator: Paginator = field(default_factory=CursorPagination)
    records_path: str = "data"
    rate_limit: float | None = None  # requests per second for the whole source
    burst_s: float = DEFAULT_BURST_S  # seconds of requests the API takes at once (its token bucket's size)
    concurrency: int = 8
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 30.0  # each read
    #: a request's whole transfer: a body still arriving after this long is retried like a timeout
    request_deadline_s: float = 120.0
    #: how long a request may keep waiting out 429s (backing off up to minutes) before it fails
    retry_budget_s: float | None = None

    def identity(self) -> str:
        """The base URL without credentials or query: who the rows come from, recorded as the owner
        of the tables they fill."""
        parts = urlsplit(self.base_url)
        return urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else "")
                           if parts.hostname else parts.netloc, parts.path.rstrip("/"), "", ""))
