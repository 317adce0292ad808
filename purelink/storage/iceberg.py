"""Apache Iceberg tables as a store: `IcebergStore("iceberg:///abs/warehouse")` keeps a SQLite
catalog inside the warehouse folder; `iceberg+postgresql://user@host:port/db?warehouse=s3://bucket/prefix
&endpoint=URL` keeps the catalog in PostgreSQL and the files in an S3-compatible store.

Reading goes through pyiceberg's scans (Arrow), and `query(sql)` runs DuckDB's SQL over the
tables it names as `schema.table`.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

from purelink.errors import PurelinkError
from purelink.runtime.errors import RuntimeFailure
from purelink.storage.base import Store, StoreURL, parse_url

STATE = "_purelink.state"
STATE_COLUMNS = ("pipeline", "stream", "key", "value")
_LOGICAL = {"bool": "boolean", "int64": "bigint", "double": "double", "string": "varchar",
            "large_string": "varchar", "timestamp[us, tz=UTC]": "timestamptz"}


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

    def runtime_call(self, *, schema: str | None = None, airbyte_metadata: bool = False,
                     arrow: bool = False) -> tuple[str, dict[str, Any]]:
        # The catalog properties hold no secret: the password and the S3 keys go by vault name.
        return "IcebergDestination", {"properties": self.properties, "password": self.credential,
                                      "s3_credential": self.s3_credential,
                                      "airbyte_metadata": airbyte_metadata or None, "label": self.url.text}

    def secret_names(self) -> list[str]:
        return [name for name in (self.credential, self.s3_credential) if name]

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
            if f"{schema}.{table}" == STATE:  # kept in properties, shown as rows
                rows.append({"schema": schema, "table": table, "rows": self._state_rows().num_rows})
                continue
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
        if name == STATE:
            data = self._state_rows()
            data = data.slice(0, limit) if limit else data
        else:
            data = self._load(name).scan(limit=limit).to_arrow()
        return data if arrow else data.to_pandas()

    def _state_rows(self):
        """Each stream's state as rows (pipeline, stream, key, value as JSON text), as the other
        stores keep it: Iceberg keeps it in table properties, committed with the rows."""
        import pyarrow as pa

        from purelink.runtime.destinations.iceberg import state_key, where_key

        holder = self._load(STATE).properties
        rows = []
        for prop, text in sorted(holder.items()):
            if not prop.startswith("purelink.state."):
                continue
            pipeline, _, stream = prop.removeprefix("purelink.state.").rpartition(".")
            where = holder.get(where_key(pipeline, stream))
            if where:  # the table's copy, once there, is the whole state
                try:
                    text = self._load(where).properties.get(state_key(pipeline, stream), text)
                except PurelinkError:
                    pass
            rows += [{"pipeline": pipeline, "stream": stream, "key": k, "value": json.dumps(v)}
                     for k, v in json.loads(text).items()]
        return pa.Table.from_pylist(rows, schema=pa.schema({c: pa.string() for c in STATE_COLUMNS}))

    # -- bulk copy, for `purelink migrate` -------------------------------------------------
    def columns(self, schema: str, table: str) -> dict[str, str | None]:
        from pyiceberg.exceptions import NoSuchTableError

        if f"{schema}.{table}" == STATE:
            return dict.fromkeys(STATE_COLUMNS, "varchar")
        try:
            stored = self.catalog().load_table((schema, table)).schema().as_arrow()
        except NoSuchTableError:
            return {}
        return {f.name: _LOGICAL.get(str(f.type)) for f in stored}

    def write_table(self, schema: str, table: str, data, logical: dict[str, str | None], *,
                    replace: bool = True) -> None:
        """A new table takes `data` in one append commit; an existing one (bookkeeping) has its
        rows overwritten in one commit. State rows become the state properties the destination
        reads, one JSON object per stream."""
        import pyarrow as pa

        from purelink.runtime.destinations.columnar import conform, storable
        from purelink.runtime.destinations.iceberg import BOOKKEEPING, state_key

        catalog = self.catalog()
        if f"{schema}.{table}" == STATE:
            states: dict[str, dict] = {}
            for row in data.to_pylist():
                value = row["value"]
                states.setdefault(state_key(row["pipeline"], row["stream"]), {})[row["key"]] = \
                    json.loads(value) if isinstance(value, str) else value
            holder = self._load(STATE)
            holder.transaction().set_properties({k: json.dumps(v) for k, v in states.items()}).commit_transaction()
            return
        data = storable(data)
        if schema == "_purelink" and table in BOOKKEEPING:
            want = pa.schema(BOOKKEEPING[table])
            data = pa.table({f.name: data[f.name].cast(f.type) if f.name in data.column_names
                             else pa.nulls(data.num_rows, f.type) for f in want}, schema=want)
        catalog.create_namespace_if_not_exists(schema)
        if replace and catalog.table_exists((schema, table)):
            catalog.drop_table((schema, table))
        if not catalog.table_exists((schema, table)):
            catalog.create_table((schema, table), schema=data.schema).append(data)
            return
        stored = catalog.load_table((schema, table))
        with warnings.catch_warnings():  # pyiceberg warns when an empty table has nothing to delete
            warnings.simplefilter("ignore", UserWarning)
            stored.overwrite(conform(data, stored.schema().as_arrow()))

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
