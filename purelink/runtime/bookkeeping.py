"""Purelink's bookkeeping, defined once: the `_purelink` tables and the metadata columns of loaded rows.

Every store creates the same tables (`executions`, `state`, `dead_letters`, `schema_changes`,
`tables`) from this one list: DuckDB and PostgreSQL as SQL DDL (`ddl`), BigQuery and Iceberg as
Arrow schemas (`arrow_schema`). A column added here reaches every store, and a workspace made by an
older version gets it on its next run (`upgrade`): new columns only ever go at the END of a table,
so stores that copy rows positionally (`INSERT ... SELECT *`) keep lining up.

    ddl("duckdb")                        # CREATE SCHEMA / CREATE TABLE IF NOT EXISTS statements
    upgrade("postgres", "executions", {"run_id", "pipeline"})   # ALTER TABLE for what is missing
    arrow_schema("executions")           # pa.Schema for the table-file stores

This module is part of the runtime: it imports nothing else of purelink.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pyarrow is imported where Arrow is asked for: the command line never needs it
    import pyarrow as pa

SCHEMA = "_purelink"

# Logical column types, spelled per dialect below.
TEXT, INTEGER, BIGINT, DOUBLE, TIME, JSON = "text", "integer", "bigint", "double", "timestamptz", "json"

TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "executions": (
        ("run_id", TEXT), ("pipeline", TEXT), ("recipe", TEXT), ("version", INTEGER), ("mode", TEXT),
        ("status", TEXT), ("started_at", TIME), ("finished_at", TIME), ("duration_s", DOUBLE),
        ("records", BIGINT), ("requests", BIGINT), ("bytes", BIGINT), ("errors", INTEGER),
        ("warnings", INTEGER), ("dead_letters", BIGINT), ("error_message", TEXT), ("streams", JSON),
        ("cause", JSON),  # the run's structured cause (added after the first release)
        ("executor", TEXT),  # what started the run: EXECUTORS (added after `cause`)
    ),
    "state": (("pipeline", TEXT), ("stream", TEXT), ("key", TEXT), ("value", JSON), ("run_id", TEXT),
              ("updated_at", TIME)),
    "dead_letters": (("run_id", TEXT), ("pipeline", TEXT), ("stream", TEXT), ("reason", TEXT), ("record", JSON),
                     ("failed_at", TIME)),
    "schema_changes": (("run_id", TEXT), ("pipeline", TEXT), ("stream", TEXT), ("table_name", TEXT),
                       ("column_name", TEXT), ("change", TEXT), ("old_type", TEXT), ("new_type", TEXT),
                       ("changed_at", TIME)),
    "tables": (("schema_name", TEXT), ("table_name", TEXT), ("pipeline", TEXT), ("source", TEXT),
               ("source_table", TEXT), ("run_id", TEXT), ("claimed_at", TIME)),
}

# PostgreSQL enforces these (upserts rely on them); DuckDB never had them, and adding a key to an
# existing table is not an upgrade DuckDB can do in place.
KEYS = {"executions": ("run_id",), "state": ("pipeline", "stream", "key"), "tables": ("schema_name", "table_name")}

SQL = {
    "duckdb": {TEXT: "VARCHAR", INTEGER: "INTEGER", BIGINT: "BIGINT", DOUBLE: "DOUBLE",
               TIME: "TIMESTAMPTZ", JSON: "JSON"},
    "postgres": {TEXT: "text", INTEGER: "integer", BIGINT: "bigint", DOUBLE: "double precision",
                 TIME: "timestamptz", JSON: "jsonb"},
}

# The metadata columns every loaded row carries, in the lattice of purelink.runtime.records.
META_PURELINK = {"_purelink_run_id": "varchar", "_purelink_extracted_at": "timestamptz"}
# `_airbyte_generation_id` means what Airbyte's destinations v2 give it: a per-stream number that
# starts at 0 and goes up by one each time the stream's table is rebuilt from scratch (a whole-table
# reload, or `--full-refresh` of an incremental stream); incremental runs keep the current one.
META_AIRBYTE = {"_airbyte_raw_id": "varchar", "_airbyte_extracted_at": "timestamptz",
                "_airbyte_meta": "json", "_airbyte_generation_id": "bigint",
                "_airbyte_ab_id": "varchar", "_airbyte_emitted_at": "timestamptz"}
META_TIMES = frozenset(c for c, k in {**META_PURELINK, **META_AIRBYTE}.items() if k == "timestamptz")

# What may start a run. Each starter sets PURELINK_EXECUTOR for the process it starts (the Docker
# runner inside its container, the cron line, the Airflow DAG, the Kubernetes manifests); a module
# run by hand says `local`.
EXECUTORS = ("local", "docker", "airflow", "kubernetes", "cron")
EXECUTOR_ENV = "PURELINK_EXECUTOR"
PARENT_PIPE = "PURELINK_PARENT_PIPE"  # set by a runner that holds a pipe on the run's stdin


SCHEDULERS = ("airflow", "kubernetes", "cron")


def started_by(runner: str) -> str:
    """The executor a runner (`local`, `docker`) hands its run: a scheduler that started this
    process (cron runs `purelink recipes run`) wins over the runner it used."""
    named = os.environ.get(EXECUTOR_ENV, "").strip().lower()
    return named if named in SCHEDULERS else runner


def executor() -> str:
    """What started this run, for `_purelink.executions.executor`."""
    named = os.environ.get(EXECUTOR_ENV, "").strip().lower()
    if named in EXECUTORS:
        return named
    return "docker" if os.environ.get("PURELINK_IN_CONTAINER") else "local"


def columns(table: str) -> list[str]:
    return [name for name, _ in TABLES[table]]


def column_types(table: str, dialect: str) -> dict[str, str]:
    """Column -> the dialect's type, e.g. for CASTs of parameters."""
    return {name: SQL[dialect][kind] for name, kind in TABLES[table]}


def ddl(dialect: str) -> list[str]:
    """The statements that create the schema and every table that is not there yet."""
    statements = [f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"]
    for table, cols in TABLES.items():
        body = [f"{name} {SQL[dialect][kind]}" for name, kind in cols]
        if dialect == "postgres" and table in KEYS:
            body.append(f"PRIMARY KEY ({', '.join(KEYS[table])})")
        statements.append(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} ({', '.join(body)})")
    return statements


def missing(table: str, existing: set[str] | list[str]) -> list[tuple[str, str]]:
    """The (column, logical type) pairs an existing table lacks, in definition order."""
    have = set(existing)
    return [(name, kind) for name, kind in TABLES[table] if name not in have]


def upgrade(dialect: str, table: str, existing: set[str] | list[str]) -> list[str]:
    """ALTER statements that bring a table made by an older version up to the definition; none
    when nothing is missing (PostgreSQL's ALTER TABLE takes a lock even when it changes nothing)."""
    return [f"ALTER TABLE {SCHEMA}.{table} ADD COLUMN IF NOT EXISTS {name} {SQL[dialect][kind]}"
            for name, kind in missing(table, existing)]


def arrow_columns(table: str) -> dict[str, pa.DataType]:
    import pyarrow as pa

    # JSON travels as text in Parquet and Iceberg files; timestamps as microseconds in UTC.
    arrow = {TEXT: pa.string(), INTEGER: pa.int64(), BIGINT: pa.int64(), DOUBLE: pa.float64(),
             TIME: pa.timestamp("us", tz="UTC"), JSON: pa.string()}
    return {name: arrow[kind] for name, kind in TABLES[table]}


def arrow_schema(table: str) -> pa.Schema:
    """The table as Arrow, for the stores written through Parquet or Iceberg files."""
    import pyarrow as pa

    return pa.schema(arrow_columns(table))
