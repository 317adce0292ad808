"""Schema probe: a few records of a stream, their schema inferred by DuckDB, and two files.

    probe = probe_stream(spec, "customers", secret=key, workspace=ws)
    probe.columns          # Column("address.city", "VARCHAR", nullable=False, examples=["Dublin", ...])
    probe.preview_path     # samples/stripe_customers_preview.json (the raw records)
    probe.schema_path      # schemas/stripe_customers.sql (the DDL of the table the pipeline creates)

The sample is fetched the way the pipeline will fetch it: the runtime's `HttpClient` (retries,
rate limit) with the spec's auth and paginator, `limit=5`. DuckDB reads the sample file with
`read_json`, so nested objects and arrays show as STRUCT and LIST types, and each nested field
is listed as a dotted path (`address.city`) that can be chosen as a column of its own.
"""

from __future__ import annotations

import base64
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx

from purelink.catalog.spec import ConnectorSpec
from purelink.errors import CredentialError, SourceError
from purelink.runtime.destinations.base import META_AIRBYTE, META_PURELINK
from purelink.runtime.destinations.duckdb import SQL_TYPES, quote
from purelink.runtime.formats import apply_formats, time_columns, unix_to_iso
from purelink.runtime.http import HttpClient, HttpError, RetryPolicy, TokenBucket
from purelink.runtime.paginators import STYLES, Paginator, dig
from purelink.runtime.records import column_name, infer_types, select
from purelink.runtime.windows import DEFAULT_START, TimeFilter, to_unix
from purelink.workspace import Workspace

MAX_DEPTH = 3  # nested paths listed down to a.b.c
HEAVY_LIST = 20  # a list longer than this on average "may slow extraction"


@dataclass
class Column:
    """One column a user can choose; `path` is dotted for nested fields (`address.city`)."""

    path: str
    type: str  # DuckDB's type: VARCHAR, BIGINT, STRUCT(city VARCHAR, ...), VARCHAR[], MAP(...)
    nullable: bool
    examples: list[str] = field(default_factory=list)
    heavy: bool = False  # a nested list of objects: may slow extraction
    note: str = ""
    group: str = ""  # Core, Contact, Business or Complex (see purelink.discovery.columns)

    @property
    def nested(self) -> bool:
        return self.type.startswith(("STRUCT", "MAP", "JSON")) or self.type.endswith("]")

    @property
    def parent(self) -> str | None:
        return self.path.rsplit(".", 1)[0] if "." in self.path else None

    @property
    def name(self) -> str:
        """The column name in the table: `address.city` is stored as `address_city`."""
        return column_name(self.path)


@dataclass
class Probe:
    source: str
    stream: str
    records: list[dict]
    columns: list[Column]
    primary_key: tuple[str, ...] = ("id",)
    preview_path: Path | None = None
    schema_path: Path | None = None
    formats: dict[str, str] = field(default_factory=dict)  # the spec's Unix-time fields

    @property
    def name(self) -> str:
        """`stripe_customers`: how the sample and schema files are named."""
        return f"{self.source}_{self.stream}"

    def column(self, path: str) -> Column:
        for c in self.columns:
            if c.path == path:
                return c
        raise SourceError(f"{self.stream} has no field {path!r} in the sample.",
                          f"Fields: {', '.join(c.path for c in self.columns[:30])}.")

    def ddl(self, columns: list[str] | None = None, *, airbyte: bool = False) -> str:
        return table_ddl(self.source, self.stream, self.records, columns, self.primary_key, airbyte=airbyte,
                         formats=self.formats)


def request_auth(spec: ConnectorSpec, secret: str | None, *, password: str | None = None
                 ) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query params) carrying the key the way the spec says; the value stays in memory."""
    a = spec.auth
    if a.style in ("none", "password"):
        return {}, {}
    if not secret:
        raise CredentialError(f"No key for {spec.title} to fetch the sample with.",
                              "Enter the key in the credentials step first.")
    return key_parts(a, secret, password=password)


def key_parts(auth, secret: str, *, default_header: str = "Authorization",
              password: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query params) for an auth description with `style`, `header`, `prefix` and `param`
    (a connector spec's, or a proposal the assistant is probing)."""
    if auth.style == "bearer":
        return {"Authorization": f"Bearer {secret}"}, {}
    if auth.style == "header":
        return {auth.header or default_header: f"{auth.prefix or ''}{secret}"}, {}
    if auth.style == "basic":
        if password is None and getattr(auth, "password_env", None):  # Twilio's auth token, a secret of its own
            from purelink.secrets.resolve import resolve_secret

            password = resolve_secret(auth.password_env, env_vars=(auth.password_env,), interactive=False).reveal()
        token = base64.b64encode(f"{secret}:{password or ''}".encode()).decode()
        return {"Authorization": f"Basic {token}"}, {}
    return {}, {auth.param or "api_key": secret}


def make_client(spec: ConnectorSpec, secret: str | None, base_url: str | None = None) -> HttpClient:
    url = base_url or spec.base_url
    if not url:
        raise SourceError(f"{spec.title} has no base URL.",
                          "Give the API's base URL (for example its sandbox).")
    headers, params = request_auth(spec, secret)
    return HttpClient(url, headers={"User-Agent": "purelink", **spec.headers, **headers},
                      params=params or None,
                      limiter=TokenBucket(spec.rate_limit.requests_per_second),
                      retry=RetryPolicy(max_attempts=4), timeout_s=20)


def paginator_for(spec: ConnectorSpec, stream: str) -> Paginator:
    p = spec.stream(stream).pagination or spec.pagination
    return STYLES[p.style](**(p.model_extra or {}))


def fetch_sample(spec: ConnectorSpec, stream: str, *, secret: str | None = None, base_url: str | None = None,
                 limit: int = 5, client: HttpClient | None = None) -> list[dict]:
    """Up to `limit` records of a stream, fetched as the pipeline would (at most 3 pages)."""
    s = spec.stream(stream)
    own = client is None
    client = client or make_client(spec, secret, base_url)
    paginator = paginator_for(spec, stream)
    path = s.records_path if s.records_path is not None else spec.records_path
    params = dict(s.params)
    if s.time_filter is not None and s.time_filter.template:  # the query text needs its lower bound
        params = TimeFilter(**s.time_filter.model_dump()).apply(params, to_unix(DEFAULT_START), None)
    request = paginator.first(s.path, params, page_size=limit)
    records: list[dict] = []
    try:
        for _ in range(3):
            response, body, _ = paginator.fetch(client, request)  # a GraphQL stream POSTs its query
            page = dig(body, path)
            if not isinstance(page, list):
                raise SourceError(f"{spec.title} answered {s.path} without a list of records at "
                                  f"{path or 'the top level'!r}.",
                                  "Check the stream's records path in the spec.")
            records += [r for r in page if isinstance(r, dict)]
            nxt = paginator.next(request, response, body, page)
            if len(records) >= limit or nxt is None:
                break
            request = nxt
    except HttpError as exc:
        if exc.status in (401, 403):
            raise CredentialError(f"{spec.title} refused the sample request ({exc.status}): "
                                  f"{exc.api_message}",
                                  "Check the key and its permissions for this stream.") from None
        raise SourceError(f"The sample request to {exc.url} failed: HTTP {exc.status} {exc.api_message}",
                          "Check the base URL and the stream's path.") from None
    except (httpx.TransportError, ValueError) as exc:
        raise SourceError(f"Cannot fetch a sample from {client.base_url}: {type(exc).__name__}",
                          "Check the base URL and that the API is reachable from here.") from None
    finally:
        if own:
            client.close()
    return records[:limit]


def _expr(path: str) -> str:
    return ".".join(quote(part) for part in path.split("."))


def _flatten(name: str, kind: duckdb.DuckDBPyType, depth: int = 1) -> list[tuple[str, duckdb.DuckDBPyType]]:
    out = [(name, kind)]
    if kind.id == "struct" and depth < MAX_DEPTH:
        for child, child_kind in kind.children:
            out += _flatten(f"{name}.{child}", child_kind, depth + 1)
    return out


def _has_object_list(kind: duckdb.DuckDBPyType) -> bool:
    if kind.id == "list":
        return kind.child.id in ("struct", "map") or _has_object_list(kind.child)
    if kind.id == "struct":
        return any(_has_object_list(k) for _, k in kind.children)
    return False


def infer_columns(sample_file: str | Path, formats: dict[str, str] | None = None) -> list[Column]:
    """Columns of a JSON array of records, typed by DuckDB's `read_json`, nested paths included;
    `formats` (the spec's Unix-time fields) show as the TIMESTAMPTZ the table gives them."""
    formats = formats or {}
    con = duckdb.connect()
    try:
        source = "read_json($1, format='array', sample_size=-1, maximum_depth=-1)"
        described = con.execute(f"SELECT * FROM {source} LIMIT 0", [str(sample_file)]).description
        paths = [p for name, kind, *_ in described for p in _flatten(name, kind)]
        if not paths:
            return []
        parts = ["count(*)"]
        for path, kind in paths:
            e = _expr(path)
            nested = kind.id in ("struct", "list", "map")
            text = f"CAST(to_json({e}) AS VARCHAR)" if nested else f"CAST({e} AS VARCHAR)"
            parts += [f"count({e})", f"(list(DISTINCT {text}) FILTER (WHERE {e} IS NOT NULL))[1:3]",
                      f"avg(len({e}))" if kind.id == "list" else "NULL"]
        row = con.execute(f"SELECT {', '.join(parts)} FROM {source}", [str(sample_file)]).fetchone()
    finally:
        con.close()
    total, columns = row[0], []
    table_types = _table_types(sample_file, [path for path, _ in paths], formats)
    for i, (path, kind) in enumerate(paths):
        present, examples, avg_len = row[1 + 3 * i: 4 + 3 * i]
        heavy = _has_object_list(kind) or (avg_len or 0) > HEAVY_LIST
        note = "may slow extraction: a nested list of objects" if heavy else ""
        type_name = str(kind)
        if kind.id not in ("struct", "list", "map", "null") and table_types.get(path):
            # The type the table will have (the runtime's typing), not read_json's own guess:
            # read_json reads [0, -5] as HUGEINT where the table gets BIGINT.
            type_name = table_types[path]
        if path in formats:  # the instants the table will hold, not the API's seconds
            examples = [unix_to_iso(int(e), formats[path]) or e if e.isdigit() else e for e in examples or []]
        if kind.id == "null":
            type_name, note = table_types.get(path, "VARCHAR"), "always null in the sample"
        columns.append(Column(path, type_name, nullable=present < total,
                              examples=[e if len(e) <= 80 else e[:77] + "..." for e in examples or []],
                              heavy=heavy, note=note))
    return columns


def _table_types(sample_file: str | Path, paths: list[str], formats: dict[str, str]) -> dict[str, str]:
    """Path -> the SQL type the runtime gives its column, for the scalar paths of the sample."""
    try:
        records = [r for r in json.loads(Path(sample_file).read_text()) if isinstance(r, dict)]
    except (OSError, ValueError):
        return {}
    out = {}
    for path in paths:
        times = time_columns({path: formats[path]}) if path in formats else {}
        kind = infer_types(apply_formats(select(r, [path]), times)[0] for r in records).get(column_name(path))
        if times and kind == "null":
            kind = "timestamptz"  # declared: the table types it so before a value arrives
        if kind in ("bigint", "double", "varchar", "boolean", "timestamptz"):
            out[path] = kind.upper()
    return out


def table_ddl(schema: str, table: str, records: list[dict], columns: list[str] | None,
              primary_key: tuple[str, ...] = ("id",), *, airbyte: bool = False,
              formats: dict[str, str] | None = None) -> str:
    """The DDL of the table the pipeline creates: the runtime's own typing of the chosen columns
    (nested values as JSON, dotted paths as `a_b` columns) plus its metadata columns."""
    chosen = None if columns is None else [*(k for k in primary_key if k not in columns), *columns]
    formats = {p: u for p, u in (formats or {}).items() if (p in chosen if chosen is not None else "." not in p)}
    times = time_columns(formats)
    types = infer_types(apply_formats(select(r, chosen), times)[0] for r in records)
    for path in chosen or []:
        types.setdefault(column_name(path), "null")
    types.update({c: "timestamptz" for c in times if types.get(c) == "null"})
    types.update({c: "varchar" for c in primary_key if types.get(c) == "timestamptz"})  # as typed_table keeps keys
    types.update(META_PURELINK)
    if airbyte:
        types.update(META_AIRBYTE)
    origin = {column_name(p): p for p in chosen or []}
    lines = []
    for i, (name, kind) in enumerate(types.items()):
        notes = [n for n in ("primary key" if name in primary_key else "",
                             f"from {origin[name]}" if origin.get(name, name) != name else "",
                             "nested, stored as JSON" if kind == "json" else "") if n]
        comma = "," if i < len(types) - 1 else ""
        comment = f"  -- {', '.join(notes)}" if notes else ""
        lines.append(f"    {quote(name)} {SQL_TYPES[kind]}{comma}{comment}")
    body = "\n".join(lines)
    merge = f"merged on {', '.join(primary_key)}" if primary_key else "appended (no primary key)"
    return (f"-- {schema}.{table}: the table the pipeline creates; rows are {merge}.\n"
            f"CREATE SCHEMA IF NOT EXISTS {quote(schema)};\n"
            f"CREATE TABLE IF NOT EXISTS {quote(schema)}.{quote(table)} (\n{body}\n);\n")


def probe_stream(spec: ConnectorSpec, stream: str, *, secret: str | None = None, base_url: str | None = None,
                 workspace: Workspace | str | Path | None = None, limit: int = 5,
                 columns: list[str] | None = None, client: HttpClient | None = None) -> Probe:
    """Fetch `limit` records, infer the schema with DuckDB, and (with a workspace) write
    `samples/NAME_preview.json` and `schemas/NAME.sql`."""
    s = spec.stream(stream)
    records = fetch_sample(spec, stream, secret=secret, base_url=base_url, limit=limit, client=client)
    if not records:
        raise SourceError(f"{spec.title} returned no {stream} to sample.",
                          "Add a few records on the account (or pick another stream) to see the schema.")
    key = tuple([s.primary_key] if isinstance(s.primary_key, str) else s.primary_key or [])
    probe = Probe(spec.name, stream, records, [], key, formats=dict(s.formats))
    if workspace is not None:
        ws = workspace if isinstance(workspace, Workspace) else Workspace.at(workspace)
        ws.samples.mkdir(parents=True, exist_ok=True)
        probe.preview_path = ws.samples / f"{probe.name}_preview.json"
        probe.preview_path.write_text(json.dumps(records, indent=2, default=str) + "\n")
        probe.columns = infer_columns(probe.preview_path, s.formats)
        probe.schema_path = write_schema(probe, ws, columns)
    else:
        with tempfile.TemporaryDirectory(prefix="purelink-probe-") as tmp:
            sample = Path(tmp) / "sample.json"
            sample.write_text(json.dumps(records, default=str))
            probe.columns = infer_columns(sample, s.formats)
    return probe


def write_schema(probe: Probe, workspace: Workspace, columns: list[str] | None = None, *,
                 airbyte: bool = False) -> Path:
    workspace.schemas.mkdir(parents=True, exist_ok=True)
    path = workspace.schemas / f"{probe.name}.sql"
    path.write_text(probe.ddl(columns, airbyte=airbyte))
    return path

