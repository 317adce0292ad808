"""The google-cloud-bigquery client as the BigQuery destination and store use it: built from a
service-account JSON (a secret, by name) or anonymously for an emulator, Parquet load jobs whose
failures are explained in words, and Arrow types as BigQuery column types."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from purelink.runtime.auth import read_secret
from purelink.runtime.errors import RuntimeFailure


def client(project: str, *, endpoint: str | None = None, credential: str | None = None):
    """A BigQuery client for `project`; anonymous against an `endpoint` (an emulator) unless a
    service-account secret is named."""
    try:
        from google.api_core.client_options import ClientOptions
        from google.cloud import bigquery
    except ImportError:
        raise RuntimeFailure("The BigQuery client (google-cloud-bigquery) is not installed.",
                             "Install it with `pip install purelink-jupyter[bigquery]`.") from None
    options = ClientOptions(api_endpoint=endpoint) if endpoint else None
    if endpoint:
        _check_reachable(endpoint)
    if credential:
        from google.oauth2 import service_account

        try:
            info = json.loads(read_secret(credential))
            credentials = service_account.Credentials.from_service_account_info(info)
        except (ValueError, KeyError):
            raise RuntimeFailure(f"The secret {credential} is not a service-account key file.",
                                 "Store the JSON key of a service account (IAM > Service accounts > Keys > "
                                 f"Add key > JSON) with `purelink secrets set {credential} < key.json`.") from None
    elif endpoint:
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    else:
        raise RuntimeFailure(f"No credential was given for BigQuery project {project}.",
                             "Name the vault secret holding a service-account JSON key with "
                             "--destination-credential NAME (roles: BigQuery Data Editor and Job User).")
    return bigquery.Client(project=project, credentials=credentials, client_options=options)


def _check_reachable(endpoint: str) -> None:
    """Fail at once when nothing listens at an endpoint: the client retries refused connections
    for ten minutes before it gives up."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=10).close()
    except OSError:
        raise RuntimeFailure(f"Cannot reach BigQuery at {endpoint}: nothing answered.",
                             "Check the endpoint in the destination URL (bigquery://PROJECT/DATASET?endpoint=URL) "
                             "and that the service (or emulator) is running.") from None


def explain(exc: Exception, what: str) -> RuntimeFailure:
    """A BigQuery API error as a sentence and what to do; never the request or a key."""
    errors = getattr(exc, "errors", None) or []
    reason = errors[0].get("reason", "") if errors and isinstance(errors[0], dict) else ""
    message = (errors[0].get("message") if errors and isinstance(errors[0], dict) else None) or str(exc)
    message = message.splitlines()[0][:300]
    code = getattr(exc, "code", None)
    if code in (401, 403) or reason in ("accessDenied", "forbidden"):
        guidance = ("Give the service account the roles BigQuery Data Editor and BigQuery Job User on the "
                    "project (IAM > Grant access), then run again.")
    elif reason == "quotaExceeded" or code == 429:
        guidance = "BigQuery's quota for load jobs or queries is used up: wait a while and run again."
    elif reason == "notFound" or code == 404:
        guidance = "Check the project and dataset in the destination URL (bigquery://PROJECT/DATASET)."
    elif reason in ("invalid", "invalidQuery"):
        guidance = ("The rows do not fit the table's columns (a type changed at the source?): reload the "
                    "stream with --full-refresh to rebuild the table, or fix the column by hand.")
    else:
        guidance = "Run again; if it keeps failing, the job's history in the BigQuery console says more."
    return RuntimeFailure(f"BigQuery refused to {what}: {message}", guidance)


def unreachable(exc: Exception, bq) -> RuntimeFailure | None:
    """A connection that failed (nothing answered), as a sentence; None for other errors."""
    from google.api_core.exceptions import RetryError

    if not isinstance(exc, (RetryError, OSError)):  # requests' ConnectionError is an OSError
        return None
    where = getattr(getattr(bq, "_connection", None), "API_BASE_URL", None) or "BigQuery"
    return RuntimeFailure(f"Cannot reach BigQuery at {where}: nothing answered.",
                          "Check the endpoint in the destination URL (bigquery://PROJECT/DATASET?endpoint=URL) "
                          "and that the service is running; without an endpoint, check this machine's internet access.")


# Connection errors are retried for 10 minutes by default; a user waits a few seconds, not ten
# minutes, to hear that an endpoint is wrong.
RETRY_S = 30.0


def load_parquet(bq, data: pa.Table, table_id: str, *, append: bool) -> None:
    """Load `data` into the existing table `table_id` as one Parquet load job."""
    from google.api_core.exceptions import GoogleAPIError
    from google.cloud import bigquery

    buffer = io.BytesIO()
    pq.write_table(data, buffer)
    buffer.seek(0)
    config = bigquery.LoadJobConfig(source_format="PARQUET",
                                    write_disposition="WRITE_APPEND" if append else "WRITE_TRUNCATE")
    try:
        bq.load_table_from_file(buffer, table_id, job_config=config).result()
    except GoogleAPIError as exc:
        raise unreachable(exc, bq) or explain(exc, f"load {data.num_rows} rows into {table_id}") from None
    except OSError as exc:
        raise unreachable(exc, bq) or explain(exc, f"load {data.num_rows} rows into {table_id}") from None


def run(bq, sql: str, params: list | None = None, *, what: str = "run a query"):
    """The result rows of one query (or script), errors explained."""
    from google.api_core.exceptions import GoogleAPIError
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(query_parameters=params or [])
    try:
        return list(bq.query(sql, job_config=config, retry=bigquery.DEFAULT_RETRY.with_deadline(RETRY_S)).result())
    except GoogleAPIError as exc:
        raise unreachable(exc, bq) or explain(exc, what) from None
    except OSError as exc:
        raise unreachable(exc, bq) or explain(exc, what) from None


def column_type(kind: pa.DataType) -> str:
    """The BigQuery type of an Arrow column (nested values arrive as JSON text, see `flat`)."""
    if pa.types.is_boolean(kind):
        return "BOOL"
    if pa.types.is_integer(kind):
        return "INT64"
    if pa.types.is_floating(kind):
        return "FLOAT64"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP" if kind.tz else "DATETIME"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_decimal(kind):
        # NUMERIC holds 29 digits before the point and 9 after; anything wider is BIGNUMERIC
        return "NUMERIC" if kind.scale <= 9 and kind.precision - kind.scale <= 29 else "BIGNUMERIC"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "BYTES"
    return "STRING"


def flat(table: pa.Table) -> pa.Table:
    """Lists and structs (SQL arrays, composite values) as JSON text, which every BigQuery reader
    can parse; scalars unchanged."""
    columns = []
    for column in table.columns:
        if pa.types.is_nested(column.type):
            values = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
            column = pa.chunked_array([pa.array(values, pa.string())])
        elif pa.types.is_decimal(column.type) and column_type(column.type) == "NUMERIC":
            column = pc.cast(column, pa.decimal128(38, 9))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)
