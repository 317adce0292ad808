"""The bookkeeping tables (`_purelink.*`) that each store creates are the one definition in
purelink.runtime.bookkeeping, column by column and type by type; and a store made by an older
version (executions without `cause` and `executor`) gets the missing columns on its next open, its
rows intact, value by value. DuckDB file, PostgreSQL cluster, BigQuery emulator, Iceberg on moto's S3.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pytest

from purelink.runtime import bookkeeping
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.destinations.postgres import PostgresDestination

ADDED = ("cause", "executor")  # executions columns that came after the first release
WHEN = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
OLD_RUN = {"run_id": "old-run-1", "pipeline": "stripe_customers", "recipe": "stripe_customers", "version": 2,
           "mode": "incremental", "status": "success", "started_at": WHEN, "finished_at": WHEN,
           "duration_s": 12.5, "records": 300, "requests": 4, "bytes": 81234, "errors": 0, "warnings": 1,
           "dead_letters": 0, "error_message": None, "streams": '{"customers": {"records": 300}}'}
OLD_STATE = {"pipeline": "stripe_customers", "stream": "customers", "key": "cursor", "value": '"cus_0300"',
             "run_id": "old-run-1", "updated_at": WHEN}

# How each store spells a type back when asked (its catalog), for the definition's logical types.
DUCKDB_SAYS = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}
POSTGRES_SAYS = {"timestamptz": "timestamp with time zone"}
BIGQUERY_SAYS = {pa.string(): "STRING", pa.int64(): "INTEGER", pa.float64(): "FLOAT",
                 pa.timestamp("us", tz="UTC"): "TIMESTAMP"}
ICEBERG_SAYS = {pa.string(): "string", pa.int64(): "long", pa.float64(): "double",
                pa.timestamp("us", tz="UTC"): "timestamptz"}


def old_columns(table: str) -> list[tuple[str, str]]:
    return [(n, k) for n, k in bookkeeping.TABLES[table] if not (table == "executions" and n in ADDED)]


def expected_sql(dialect: str, says: dict) -> dict[str, list[tuple[str, str]]]:
    return {t: [(n, says.get(bookkeeping.SQL[dialect][k], bookkeeping.SQL[dialect][k])) for n, k in cols]
            for t, cols in bookkeeping.TABLES.items()}


def test_the_definition_yields_each_dialect_and_arrow_alike():
    for table, cols in bookkeeping.TABLES.items():
        assert bookkeeping.arrow_schema(table).names == [n for n, _ in cols]
        for dialect in bookkeeping.SQL:
            create = next(s for s in bookkeeping.ddl(dialect) if f"{bookkeeping.SCHEMA}.{table} (" in s)
            for name, kind in cols:
                assert f"{name} {bookkeeping.SQL[dialect][kind]}" in create
    assert bookkeeping.TABLES["executions"][-1] == ("executor", bookkeeping.TEXT)  # new columns go last
    assert bookkeeping.upgrade("postgres", "executions", bookkeeping.columns("executions")) == []


def test_started_by_a_scheduler_wins_over_the_runner(monkeypatch):
    monkeypatch.delenv(bookkeeping.EXECUTOR_ENV, raising=False)
    monkeypatch.delenv("PURELINK_IN_CONTAINER", raising=False)
    assert (bookkeeping.executor(), bookkeeping.started_by("docker")) == ("local", "docker")
    monkeypatch.setenv("PURELINK_IN_CONTAINER", "1")
    assert bookkeeping.executor() == "docker"
    monkeypatch.setenv(bookkeeping.EXECUTOR_ENV, "cron")
    assert (bookkeeping.executor(), bookkeeping.started_by("docker")) == ("cron", "cron")
    monkeypatch.setenv(bookkeeping.EXECUTOR_ENV, "something else")
    assert bookkeeping.started_by("local") == "local"


# -- DuckDB ----------------------------------------------------------------------------------

def duckdb_layout(path) -> dict[str, list[tuple[str, str]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT table_name, column_name, data_type FROM duckdb_columns() "
                           "WHERE schema_name = '_purelink' ORDER BY table_name, column_index").fetchall()
    finally:
        con.close()
    found: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        found.setdefault(table, []).append((column, kind))
    return found


def record_a_run(destination, run_id: str) -> None:
    destination.open()
    try:
        destination.start_run(run_id=run_id, pipeline="p", recipe="p", version=1, mode="incremental")
        destination.finish_run(run_id, status="success", records=7)
    finally:
        destination.close()


def test_duckdb_creates_the_definition_and_upgrades_an_old_file(tmp_path, monkeypatch):
    monkeypatch.setenv(bookkeeping.EXECUTOR_ENV, "cron")
    fresh = tmp_path / "fresh.duckdb"
    record_a_run(DuckDBDestination(fresh), "r1")
    assert duckdb_layout(fresh) == expected_sql("duckdb", DUCKDB_SAYS)

    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    con.execute("CREATE SCHEMA _purelink")
    for table in bookkeeping.TABLES:
        cols = ", ".join(f"{n} {bookkeeping.SQL['duckdb'][k]}" for n, k in old_columns(table))
        con.execute(f"CREATE TABLE _purelink.{table} ({cols})")
    for table, row in (("executions", OLD_RUN), ("state", OLD_STATE)):
        con.execute(f"INSERT INTO _purelink.{table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    list(row.values()))
    con.close()

    record_a_run(DuckDBDestination(old), "r2")
    assert duckdb_layout(old) == expected_sql("duckdb", DUCKDB_SAYS)
    con = duckdb.connect(str(old), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    try:
        for table, row, key in (("executions", OLD_RUN, "run_id"), ("state", OLD_STATE, "run_id")):
            cur = con.execute(f"SELECT * FROM _purelink.{table} WHERE {key} = 'old-run-1'")
            names = [d[0] for d in cur.description]
            got = dict(zip(names, cur.fetchone()))
            assert {k: got[k] for k in row} == row
            if table == "executions":
                assert (got["cause"], got["executor"]) == (None, None)  # not known for old runs
        assert con.execute("SELECT executor, records FROM _purelink.executions WHERE run_id = 'r2'").fetchall() \
            == [("cron", 7)]
    finally:
        con.close()


# -- PostgreSQL ------------------------------------------------------------------------------

def postgres_layout(server, database: str) -> dict[str, list[tuple[str, str]]]:
    rows = server.query(database, "SELECT table_name, column_name, data_type FROM information_schema.columns "
                                  "WHERE table_schema = '_purelink' ORDER BY table_name, ordinal_position")
    found: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        found.setdefault(table, []).append((column, kind))
    return found


def test_postgres_creates_the_definition_and_upgrades_an_old_warehouse(postgres, secrets_env, monkeypatch):
    monkeypatch.setenv(bookkeeping.EXECUTOR_ENV, "airflow")
    fresh = postgres.create_database("wh")
    record_a_run(PostgresDestination(postgres.url(fresh)), "r1")
    assert postgres_layout(postgres, fresh) == expected_sql("postgres", POSTGRES_SAYS)

    old = postgres.create_database("wh")
    statements = ["CREATE SCHEMA _purelink"]
    for table in bookkeeping.TABLES:
        cols = [f"{n} {bookkeeping.SQL['postgres'][k]}" for n, k in old_columns(table)]
        if table in bookkeeping.KEYS:
            cols.append(f"PRIMARY KEY ({', '.join(bookkeeping.KEYS[table])})")
        statements.append(f"CREATE TABLE _purelink.{table} ({', '.join(cols)})")
    for table, row in (("executions", OLD_RUN), ("state", OLD_STATE)):
        values = ", ".join("NULL" if v is None else f"'{v.isoformat() if isinstance(v, datetime) else v}'"
                           for v in row.values())
        statements.append(f"INSERT INTO _purelink.{table} ({', '.join(row)}) VALUES ({values})")
    postgres.execute(old, *statements)

    record_a_run(PostgresDestination(postgres.url(old)), "r2")
    assert postgres_layout(postgres, old) == expected_sql("postgres", POSTGRES_SAYS)
    got = postgres.query(old, "SELECT run_id, pipeline, recipe, version, mode, status, started_at, finished_at, "
                              "duration_s, records, requests, bytes, errors, warnings, dead_letters, error_message, "
                              "streams::text, cause, executor FROM _purelink.executions WHERE run_id = 'old-run-1'")
    expected = {**OLD_RUN, "streams": '{"customers": {"records": 300}}'}
    assert dict(zip([*OLD_RUN, "cause", "executor"], got[0])) == {**expected, "cause": None, "executor": None}
    state = postgres.query(old, "SELECT pipeline, stream, key, value::text, run_id, updated_at FROM _purelink.state")
    assert [dict(zip(OLD_STATE, r)) for r in state] == [OLD_STATE]
    assert postgres.query(old, "SELECT executor, records FROM _purelink.executions WHERE run_id = 'r2'") \
        == [("airflow", 7)]


# -- BigQuery (emulator) and Iceberg (moto's S3) --------------------------------------------

@pytest.mark.slow
def test_bigquery_creates_the_definition_and_upgrades_an_old_dataset(bq_emulator, monkeypatch):
    pytest.importorskip("google.cloud.bigquery")
    from purelink.runtime.destinations.bigquery import BigQueryDestination, table_name
    from purelink.runtime.destinations.bigquery_client import client, column_type, load_parquet, run

    monkeypatch.setenv(bookkeeping.EXECUTOR_ENV, "kubernetes")
    project = "purelink-test"
    want = {t: [(n, BIGQUERY_SAYS[k]) for n, k in bookkeeping.arrow_columns(t).items()] for t in bookkeeping.TABLES}

    def layout(dataset: str) -> dict:
        # The columns a query sees: the emulator's table metadata (get_table) misses an ALTER's
        # new columns, which its queries (and real BigQuery's metadata) do have.
        bq = client(project, endpoint=bq_emulator)
        try:
            return {t: [(f.name, f.field_type) for f in bq.query(
                f"SELECT * FROM `{project}.{dataset}.{table_name('_purelink', t)}` LIMIT 0").result().schema]
                for t in bookkeeping.TABLES}
        finally:
            bq.close()

    fresh = f"ds_{uuid.uuid4().hex[:8]}"
    record_a_run(BigQueryDestination(project, fresh, endpoint=bq_emulator), "r1")
    assert layout(fresh) == want

    old = f"ds_{uuid.uuid4().hex[:8]}"
    bq = client(project, endpoint=bq_emulator)
    try:
        from google.cloud import bigquery

        bq.create_dataset(bigquery.Dataset(f"{project}.{old}"))
        for table in bookkeeping.TABLES:
            arrow = bookkeeping.arrow_columns(table)
            schema = pa.schema([(n, arrow[n]) for n, _ in old_columns(table)])
            cols = ", ".join(f"`{f.name}` {column_type(f.type)}" for f in schema)
            run(bq, f"CREATE TABLE `{project}.{old}.{table_name('_purelink', table)}` ({cols})")
            if table == "executions":
                load_parquet(bq, pa.Table.from_pylist([OLD_RUN], schema=schema),
                             f"{project}.{old}.{table_name('_purelink', table)}", append=True)
    finally:
        bq.close()

    record_a_run(BigQueryDestination(project, old, endpoint=bq_emulator), "r2")
    assert layout(old) == want
    bq = client(project, endpoint=bq_emulator)
    try:
        rows = {r["run_id"]: dict(r.items()) for r in
                bq.query(f"SELECT * FROM `{project}.{old}.{table_name('_purelink', 'executions')}`").result()}
    finally:
        bq.close()
    assert {k: rows["old-run-1"][k] for k in OLD_RUN} == OLD_RUN
    assert (rows["old-run-1"]["executor"], rows["r2"]["executor"], rows["r2"]["records"]) == (None, "kubernetes", 7)


@pytest.mark.slow
def test_iceberg_creates_the_definition_and_upgrades_an_old_catalog(s3_server, s3_bucket, tmp_path, monkeypatch):
    pytest.importorskip("pyiceberg")
    from purelink.runtime.destinations.iceberg import BOOKKEEPING, IcebergDestination, load_catalog
    from tests.storage.conftest import iceberg_spec

    monkeypatch.setenv(bookkeeping.EXECUTOR_ENV, "docker")

    def layout(props: dict) -> dict:
        catalog = load_catalog(props)
        return {t: [(f.name, str(f.field_type)) for f in catalog.load_table(("_purelink", t)).schema().fields]
                for t in BOOKKEEPING}

    # Iceberg keeps state in table properties: its `state` table is the one exception, by design.
    want = {t: [(n, ICEBERG_SAYS[k]) for n, k in cols.items()] for t, cols in BOOKKEEPING.items()}
    assert {t: c for t, c in BOOKKEEPING.items() if t != "state"} == \
        {t: bookkeeping.arrow_columns(t) for t in bookkeeping.TABLES if t != "state"}

    (tmp_path / "fresh").mkdir()
    fresh = iceberg_spec(tmp_path / "fresh", s3=s3_server, bucket=s3_bucket)["properties"]
    fresh["warehouse"] += "-fresh"
    record_a_run(IcebergDestination(fresh), "r1")
    assert layout(fresh) == want

    (tmp_path / "old").mkdir()
    old = iceberg_spec(tmp_path / "old", s3=s3_server, bucket=s3_bucket)["properties"]
    old["warehouse"] += "-old"
    catalog = load_catalog(old)
    catalog.create_namespace("_purelink")
    for table, cols in BOOKKEEPING.items():
        schema = pa.schema([(n, k) for n, k in cols.items() if not (table == "executions" and n in ADDED)])
        created = catalog.create_table(f"_purelink.{table}", schema=schema)
        if table == "executions":
            created.append(pa.Table.from_pylist([OLD_RUN], schema=schema))

    record_a_run(IcebergDestination(old), "r2")
    assert layout(old) == want
    rows = {r["run_id"]: r for r in
            load_catalog(old).load_table(("_purelink", "executions")).scan().to_arrow().to_pylist()}
    assert {k: rows["old-run-1"][k] for k in OLD_RUN} == OLD_RUN
    assert (rows["old-run-1"]["executor"], rows["r2"]["executor"], rows["r2"]["records"]) == (None, "docker", 7)
