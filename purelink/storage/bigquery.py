"""BigQuery as a store: `BigQueryStore("project.dataset")`, or from `bigquery://PROJECT/DATASET
?endpoint=URL` (an emulator or a private endpoint). One dataset holds every table: the stream
`stripe.customers` is the table `stripe__customers` (see purelink.runtime.destinations.bigquery),
and `table("stripe.customers")` reads it back.

The service-account JSON key comes from the vault by name (`credential=`); against an endpoint
without a credential, the client is anonymous (the emulator). GEOGRAPHY columns are not supported
by the emulator the tests use.
"""

from __future__ import annotations

from typing import Any

from purelink.errors import PurelinkError
from purelink.runtime.errors import RuntimeFailure
from purelink.storage.base import Store, StoreURL, parse_url

STAGING = "_purelink_load_"
# BigQuery's column types in the runtime's lattice; JSON values are STRING columns here, so they
# read back as varchar.
LOGICAL = {"BOOL": "boolean", "BOOLEAN": "boolean", "INT64": "bigint", "INTEGER": "bigint", "FLOAT64": "double",
           "FLOAT": "double", "STRING": "varchar", "TIMESTAMP": "timestamptz"}


def _url(name: str, endpoint: str | None) -> StoreURL:
    if name.startswith("bigquery://"):
        return parse_url(name)
    project, dot, dataset = name.partition(".")
    if not dot or not project or not dataset or "." in dataset:
        raise PurelinkError(f"{name!r} does not name a BigQuery dataset.",
                            "Write it as PROJECT.DATASET (or the URL bigquery://PROJECT/DATASET).")
    text = f"bigquery://{project}/{dataset}" + (f"?endpoint={endpoint}" if endpoint else "")
    return parse_url(text)


class BigQueryStore(Store):
    """Tables of one BigQuery dataset, written through load jobs and MERGE, read as DataFrames."""

    kind = "bigquery"
    # The runtime image holds only RUNTIME_PACKAGES (+ ADBC): google-cloud-bigquery is not in it, so runs into
    # this store go through the local executor; the runner shows this sentence when it switches.
    runs_in_container = False
    executor_note = ("Runs into BigQuery use the local executor: the container image does not include "
                     "google-cloud-bigquery (install it here with `pip install purelink-jupyter[bigquery]`).")

    def __init__(self, name: str | StoreURL, *, endpoint: str | None = None, credential: str | None = None) -> None:
        url = name if isinstance(name, StoreURL) else _url(name, endpoint)
        super().__init__(url, credential=credential)
        self.project = url.netloc
        self.dataset = url.path.strip("/")
        if not self.project or not self.dataset:
            raise PurelinkError(f"{url.text!r} does not name a BigQuery dataset.",
                                "Write bigquery://PROJECT/DATASET.")
        self.endpoint = endpoint or url.options.get("endpoint")
        self._client = None

    def destination(self, *, airbyte_metadata: bool = False, schema: str | None = None):
        from purelink.runtime.destinations.bigquery import BigQueryDestination

        return BigQueryDestination(self.project, self.dataset, endpoint=self.endpoint, credential=self.credential,
                                   airbyte_metadata=airbyte_metadata)

    def runtime_call(self, *, schema: str | None = None, airbyte_metadata: bool = False,
                     arrow: bool = False) -> tuple[str, dict[str, Any]]:
        # One destination for rows and Arrow batches alike; the key file goes by its vault name.
        return "BigQueryDestination", {"project": self.project, "dataset": self.dataset, "endpoint": self.endpoint,
                                       "credential": self.credential, "airbyte_metadata": airbyte_metadata or None}

    def client(self):
        if self._client is None:
            from purelink.runtime.destinations.bigquery_client import client

            try:
                self._client = client(self.project, endpoint=self.endpoint, credential=self.credential)
            except RuntimeFailure as exc:
                raise PurelinkError(exc.message, exc.guidance) from None
        return self._client

    def _arrow(self, sql: str):
        from google.api_core.exceptions import GoogleAPIError
        from google.cloud.bigquery import DEFAULT_RETRY

        from purelink.runtime.destinations.bigquery_client import RETRY_S, explain, unreachable

        try:
            job = self.client().query(sql, retry=DEFAULT_RETRY.with_deadline(RETRY_S))
            return job.result().to_arrow(create_bqstorage_client=False)
        except (GoogleAPIError, OSError) as exc:
            failure = unreachable(exc, self._client) or explain(exc, "run the query")
            raise PurelinkError(failure.message, failure.guidance) from None

    def _ref(self, table: str) -> str:
        return f"`{self.project}.{self.dataset}.{table.replace('`', '')}`"

    @staticmethod
    def _flat(name: str) -> str:
        """`schema.table` as the loader names it in the dataset (`schema__table`)."""
        from purelink.runtime.destinations.bigquery import table_name

        schema, _, table = name.partition(".")
        return table_name(schema, table) if table else name

    def _names(self) -> list[str]:
        from google.api_core.exceptions import NotFound

        try:
            listed = self.client().list_tables(f"{self.project}.{self.dataset}")
            return sorted(t.table_id for t in listed if not t.table_id.startswith(STAGING))
        except NotFound:
            return []

    def tables(self):
        import pandas as pd

        names = self._names()
        rows = []
        if names:
            # The emulator reports no row counts in table metadata: count, in one query.
            sql = " UNION ALL ".join(f"SELECT '{n}' AS name, COUNT(*) AS n FROM {self._ref(n)}" for n in names)
            counts = dict(zip(*self._arrow(sql).to_pydict().values()))
            for name in names:
                schema, _, table = name.partition("__") if "__" in name else ("", "", name)
                rows.append({"schema": schema, "table": table, "rows": int(counts.get(name, 0))})
        return pd.DataFrame(rows, columns=["schema", "table", "rows"])

    def table(self, name: str, *, arrow: bool = False, limit: int | None = None):
        target = self._flat(name)
        if target not in self._names():
            raise PurelinkError(f"There is no table {name} in {self.project}.{self.dataset}.",
                                "List them with `tables()`; names are written schema.table.")
        data = self._arrow(f"SELECT * FROM {self._ref(target)}" + (f" LIMIT {int(limit)}" if limit else ""))
        return data if arrow else data.to_pandas()

    def query(self, sql: str, *, arrow: bool = False):
        """`sql` in BigQuery's dialect; tables are `project.dataset.schema__table`."""
        data = self._arrow(sql)
        return data if arrow else data.to_pandas()

    def location(self) -> str:
        return f"{self.project}.{self.dataset}"

    @property
    def executions_sql(self) -> str:  # type: ignore[override]
        return self._ref(self._flat("_purelink.executions"))

    @property
    def tables_sql(self) -> str:  # type: ignore[override]
        return self._ref(self._flat("_purelink.tables"))

    # -- bulk copy, for `purelink migrate` -------------------------------------------------
    def columns(self, schema: str, table: str) -> dict[str, str | None]:
        from google.api_core.exceptions import NotFound

        from purelink.runtime.destinations.bigquery import table_name

        try:
            fields = self.client().get_table(f"{self.project}.{self.dataset}.{table_name(schema, table)}").schema
        except NotFound:
            return {}
        return {f.name: LOGICAL.get(f.field_type) for f in fields}

    def write_table(self, schema: str, table: str, data, logical: dict[str, str | None], *,
                    replace: bool = True) -> None:
        """One load job (WRITE_TRUNCATE) replaces the table's rows at once; a new table gets the
        column types the destination would give the same Arrow columns."""
        import pyarrow as pa

        from purelink.runtime.destinations.bigquery import BOOKKEEPING, BigQueryDestination, table_name
        from purelink.runtime.destinations.bigquery_client import flat, load_parquet
        from purelink.runtime.destinations.columnar import storable

        data = flat(storable(data))
        if schema == "_purelink" and table in BOOKKEEPING:
            # The source's bookkeeping may be older (fewer columns) or typed narrower (INTEGER):
            # the rows take this store's own bookkeeping shape.
            want = pa.schema(BOOKKEEPING[table])
            data = pa.table({f.name: data[f.name].cast(f.type) if f.name in data.column_names
                             else pa.nulls(data.num_rows, f.type) for f in want}, schema=want)
        name = table_name(schema, table)
        writer = BigQueryDestination(self.project, self.dataset, endpoint=self.endpoint, credential=self.credential)
        writer.bq = self.client()  # the store's client: the dataset exists (migrate opened a destination)
        if replace or not self.columns(schema, table):
            writer._create(name, data.schema, replace=True)
        try:
            load_parquet(self.client(), data, f"{self.project}.{self.dataset}.{name}", append=False)
        except RuntimeFailure as exc:
            raise PurelinkError(exc.message, exc.guidance) from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
