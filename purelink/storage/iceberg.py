"""Apache Iceberg tables as a store: `IcebergStore("iceberg:///abs/warehouse")` keeps a SQLite
catalog inside the warehouse folder; `iceberg+postgresql://user@host:port/db?warehouse=s3://bucket/prefix
&endpoint=URL` keeps the catalog in PostgreSQL and the files in an S3-compatible store.

Reading goes through pyiceberg's scans (Arrow), and `query(sql)` runs DuckDB's SQL over the
tables it names as `schema.table`.
"""

from __future__ import annotations

import re
from pathlib import Path

from purelink.errors import PurelinkError
from purelink.runtime.errors import RuntimeFailure
from purelink.storage.base import Store, StoreURL, parse_url


def catalog_properties(url: StoreURL) -> dict[str, str]:
    """pyiceberg's catalog properties for an iceberg URL (no secret in them)."""
    if url.scheme == "iceberg":
        if url.netloc or not url.path.startswith("/"):
            raise PurelinkError(f"{url.text!r} is not an absolute warehouse path.",
                                "Write iceberg:///abs/path/warehouse (three slashes, then the absolute path).")
        folder = Path(url.path)
        folder.mkdir(parents=True, exist_ok=True)
        return {"uri": f"sqlite:///{folder / 'catalog.db'}", "warehouse": folder.as_uri()}
    warehouse = url.options.get("warehouse")
    if not warehouse:
        raise PurelinkError(f"{url.text!r} names no place for the table files.",
                            "Add ?warehouse=s3://BUCKET/PREFIX (or file:///abs/path) to the URL.")
    props = {"uri": f"postgresql+psycopg://{url.netloc}{url.path}", "warehouse": warehouse}
    if url.options.get("endpoint"):
        props["s3.endpoint"] = url.options["endpoint"]
    props["s3.region"] = url.options.get("region", "us-east-1")
    return props


class IcebergStore(Store):
    """Iceberg tables through a SQL catalog; `credential` is the vault name of the catalog
    database's password, `s3_credential` that of the S3 key pair (ACCESS_KEY_ID:SECRET)."""

    kind = "iceberg"
    # The runtime image holds only RUNTIME_PACKAGES (+ ADBC): pyiceberg is not in it, so runs into
    # this store go through the local executor; the runner shows this sentence when it switches.
    runs_in_container = False
    executor_note = ("Runs into Iceberg use the local executor: the container image does not include "
                     "pyiceberg (install it here with `pip install purelink-jupyter[iceberg]`).")

    def __init__(self, url: str | StoreURL, *, credential: str | None = None, s3_credential: str | None = None) -> None:
        url = parse_url(url) if isinstance(url, str) else url
        if url.kind != "iceberg":
            raise PurelinkError(f"{url.text!r} is not an Iceberg URL.",
                                "Write iceberg:///abs/path/warehouse or iceberg+postgresql://user@host/db?warehouse=s3://bucket/prefix.")
        super().__init__(url, credential=credential)
        self.s3_credential = s3_credential or url.options.get("s3_credential")
        self.properties = catalog_properties(url)
        self._catalog = None

    def destination(self, *, airbyte_metadata: bool = False, schema: str | None = None):
        from purelink.runtime.destinations.iceberg import IcebergDestination

        return IcebergDestination(self.properties, password=self.credential, s3_credential=self.s3_credential,
                                  airbyte_metadata=airbyte_metadata, label=self.url.text)

    def catalog(self):
        if self._catalog is None:
            from purelink.runtime.destinations.iceberg import load_catalog, with_secrets

            try:
                self._catalog = load_catalog(with_secrets(self.properties, password=self.credential,
                                                          s3_credential=self.s3_credential))
            except RuntimeFailure as exc:
                raise PurelinkError(exc.message, exc.guidance) from None
        return self._catalog

    def _names(self) -> list[tuple[str, str]]:
        catalog = self.catalog()
        return [tuple(ident) for ns in catalog.list_namespaces() for ident in catalog.list_tables(ns)]

    def tables(self):
        import pandas as pd

        rows = []
        for schema, table in self._names():
            snapshot = self.catalog().load_table((schema, table)).current_snapshot()
            total = int(snapshot.summary.additional_properties.get("total-records", 0)) if snapshot else 0
            rows.append({"schema": schema, "table": table, "rows": total})
        return pd.DataFrame(rows, columns=["schema", "table", "rows"])

    def _load(self, name: str):
        from pyiceberg.exceptions import NoSuchTableError

        schema, _, table = name.rpartition(".")
        try:
            return self.catalog().load_table((schema or "main", table))
        except NoSuchTableError:
            raise PurelinkError(f"There is no table {name} in {self.url.text}.",
                                "List them with `tables()`; names are written schema.table.") from None

    def table(self, name: str, *, arrow: bool = False, limit: int | None = None):
        data = self._load(name).scan(limit=limit).to_arrow()
        return data if arrow else data.to_pandas()

    def query(self, sql: str, *, arrow: bool = False):
        """`sql` in DuckDB's dialect over the tables it names (`schema.table`), read whole."""
        import duckdb

        con = duckdb.connect()
        try:
            for schema, table in self._names():
                if not re.search(rf"\b{re.escape(schema)}\s*\.\s*\"?{re.escape(table)}\b", sql):
                    continue
                data = self.catalog().load_table((schema, table)).scan().to_arrow()
                con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                con.register("purelink_scan", data)
                con.execute(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM purelink_scan')
                con.unregister("purelink_scan")
            try:
                result = con.sql(sql).to_arrow_table()
            except duckdb.Error as exc:
                raise PurelinkError(f"The query failed: {str(exc).splitlines()[0]}",
                                    "Name tables as schema.table; the SQL is DuckDB's dialect.") from None
            return result if arrow else result.to_pandas()
        finally:
            con.close()

    def location(self) -> str:
        return self.properties["warehouse"]
