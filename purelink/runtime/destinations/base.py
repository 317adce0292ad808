"""What every destination does: take batches of rows plus the state they advance, atomically.

`Destination.commit(batches)` writes each batch's rows (merged on the primary key), its dead
letters, schema changes and state updates in ONE transaction. That single rule is what makes
a run killed at any instant resume with nothing lost and nothing doubled.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pyarrow as pa

from purelink.runtime.bookkeeping import META_AIRBYTE, META_PURELINK
from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.records import infer_types, to_arrow


def generation_of(previous: int | None, *, rebuilt: bool) -> int:
    """`_airbyte_generation_id` of this run's rows: 0 at first, one more each time the table is rebuilt."""
    if previous is None:
        return 0
    return previous + 1 if rebuilt else previous


@dataclass
class Batch:
    """Rows of one stream and the state they advance."""

    pipeline: str
    stream: str
    schema: str
    table: str
    primary_key: tuple[str, ...] = ()
    rows: list[dict] = field(default_factory=list)
    dead_letters: list[tuple[str, dict]] = field(default_factory=list)  # (reason, raw record)
    state: dict[str, Any] = field(default_factory=dict)  # key -> JSON value, None deletes the key
    generation: int = 0  # `_airbyte_generation_id` of these rows
    # Every row carries every column the recipe selects (an explicit selection), so a table column
    # missing here is one the recipe no longer loads, not a field this page happened to lack.
    selected: bool = False
    # Columns holding Unix times the spec declares (column -> unit), already ISO text in `rows`:
    # typed TIMESTAMPTZ even when this batch has only nulls, and a BIGINT column an earlier
    # version stored them in is migrated in place.
    times: dict[str, str] = field(default_factory=dict)
    # A finished staged full refresh (staged_refresh): the staging table named here replaces this
    # table's rows; the batch has no rows of its own.
    replaces: str | None = None


STAGE = "_purelink_stage_"  # the staging table of a refresh: STAGE + its table's name (arrow_batch.stage_name)


@dataclass
class SchemaChange:
    stream: str
    table: str
    column: str
    change: str  # "added", "widened", "dropped" (full refresh), "kept" (no longer loaded, old values kept)
    #              or "migrated" (from the mangled form an earlier version wrote, e.g. BIGINT Unix
    #              seconds -> TIMESTAMPTZ)
    old_type: str | None
    new_type: str | None

    def __post_init__(self) -> None:
        self.table = self.table.removeprefix(STAGE)  # a refresh's staging table: the user knows the table

    def message(self) -> str:
        if self.change == "added":
            return f"new column {self.table}.{self.column} ({self.new_type})"
        if self.change == "dropped":
            return f"column {self.table}.{self.column} dropped: the full refresh no longer loads it"
        if self.change == "kept":
            return (f"column {self.table}.{self.column} is no longer loaded: rows keep their old values "
                    "(a --full-refresh drops it)")
        if self.change == "retyped":
            return f"column {self.table}.{self.column} retyped from {self.old_type} to {self.new_type}"
        if self.change == "migrated":
            return (f"column {self.table}.{self.column} migrated from {self.old_type} (how an earlier version "
                    f"stored it) to {self.new_type}")
        return f"column {self.table}.{self.column} widened from {self.old_type} to {self.new_type}"


@dataclass
class Claim:
    """A stream's wish to load into a table, and who it is: the owner recorded in `_purelink.tables`.

    `source` is the server and database (`host:port/db`, or an API's base URL), `source_table` what
    is read there. A table belongs to one recipe: another recipe reading the same source table
    gets a table named after it by default (its columns, drift and full refreshes are its own),
    and shares a table only when it names it with `into` (not the default). `chosen` says the user
    named the table: such a claim is refused when another source owns the table, while a default
    name gives way to one that names the source (or the recipe).
    """

    stream: str
    schema: str
    table: str
    pipeline: str
    source: str
    source_table: str
    chosen: bool = False
    renamed_from: str | None = None  # the default name, when another source already held it

    def owner(self) -> str:
        return f"{self.source} {self.source_table} (recipe {self.pipeline})"

    shared_with: str | None = None  # the recipe that owns the default table, reading the same source table

    def note(self) -> str:
        if self.shared_with:
            return (f"table {self.schema}.{self.renamed_from} belongs to recipe {self.shared_with}, which reads the "
                    f"same source table; stream {self.stream!r} of recipe {self.pipeline} loads into its own table "
                    f"{self.schema}.{self.table}, so neither recipe's columns or full refresh change the other's. "
                    f"To choose the name, set `into: NAME` on the stream (CLI: --streams '{self.stream}:NAME')")
        return (f"table {self.schema}.{self.renamed_from} already holds rows of another source, so stream "
                f"{self.stream!r} ({self.source} {self.source_table}) loads into {self.schema}.{self.table}; "
                f"set `into` on the stream to choose another name")


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", text).strip("_")


def _split_identity(source: str) -> tuple[str, str]:
    """(server, database) of `host:port/db`; an API's URL is all server."""
    if "://" in source:
        return source.split("://", 1)[1], ""
    server, _, database = source.partition("/")
    return server, database


def recipe_name(claim: Claim) -> str:
    """The default table of a second recipe reading the same source table: named after the recipe
    (`stripe_customers_eu` for stream customers), so the user tells the two tables apart."""
    recipe = _slug(claim.pipeline)
    return recipe if claim.table.lower() in recipe.lower() else f"{recipe}_{claim.table}"


def source_names(claim: Claim, holder_source: str) -> list[str]:
    """Default table names that say where the rows come from, plainest first: the database when
    it differs from the holder's, else the server and database."""
    server, database = _split_identity(claim.source)
    names = []
    if database and database != _split_identity(holder_source)[1]:
        names.append(f"{_slug(database)}_{claim.table}")
    names.append(f"{_slug(server)}_{_slug(database)}_{claim.table}" if database else f"{_slug(server)}_{claim.table}")
    return names


def check_claims(claims: list[Claim], owners: dict[tuple[str, str], tuple[str, str, str, str]], *,
                 fold_case: bool) -> tuple[list[Claim], list[Claim]]:
    """(every claim with the table it loads into, the claims to record as new owners).

    A RuntimeFailure for two streams on one table, or a chosen table owned by another source.
    `owners` maps (schema, table) -> (pipeline, source, source_table, table as created), with names
    case-folded when the destination does not tell upper from lower case. A default name already
    owned by another source becomes a name with the source in it; the table such a claim got on an
    earlier run is found again by its owner, so names stay stable from run to run.
    """
    def key(c: Claim, table: str | None = None) -> tuple[str, str]:
        table = c.table if table is None else table
        return (c.schema.lower(), table.lower()) if fold_case else (c.schema, table)

    seen: dict[tuple[str, str], Claim] = {}
    for claim in claims:
        other = seen.setdefault(key(claim), claim)
        if other is claim:
            continue
        if other.table != claim.table:
            raise RuntimeFailure(
                f"Streams {other.stream!r} and {claim.stream!r} would both land in table "
                f"{claim.schema}.{claim.table}: {other.table!r} and {claim.table!r} differ only in case, "
                "and the destination does not tell them apart.",
                f"Give one of them another table name with `into` (recipe: `into: {claim.table.lower()}_2` "
                f"under the stream; CLI: --streams '{claim.stream}:{claim.table.lower()}_2'); nothing was loaded.")
        raise RuntimeFailure(
            f"Streams {other.stream!r} and {claim.stream!r} would both load into {claim.schema}.{claim.table}, "
            "mixing their rows.",
            f"Give each its own table with `into` (CLI: --streams '{claim.stream}:OTHER_NAME'); nothing was loaded.")

    def mine(claim: Claim, found: tuple[str, str, str, str]) -> bool:
        pipeline, source, source_table, _ = found
        # The same recipe's stream, even re-pointed at another server or URL (a sandbox on a new
        # port, a move to production): the rows are the ones the table holds. Another recipe
        # reading the same source table shares it only by naming it (`into`): by default its
        # schema drift and full refreshes would change a table the other recipe's users read.
        return source_table == claim.source_table and (
            pipeline == claim.pipeline or (source == claim.source and claim.chosen))

    resolved: list[Claim] = []
    fresh: list[Claim] = []
    taken = set(seen)
    for claim in claims:
        found = owners.get(key(claim))
        if found is None or mine(claim, found):
            resolved.append(claim)
            if found is None:
                fresh.append(claim)
            continue
        pipeline, source, source_table, table = found
        if not claim.chosen:
            earlier = sorted(v[3] for k, v in owners.items() if k[0] == key(claim)[0] and v[0] == claim.pipeline
                             and v[1] == claim.source and v[2] == claim.source_table)
            if earlier:
                resolved.append(replace(claim, table=earlier[0]))
                continue
            same = source == claim.source and source_table == claim.source_table
            names = [recipe_name(claim)] if same else source_names(claim, source)
            for name in [*names, *(f"{claim.table}_{n}" for n in range(2, 100))]:
                if key(claim, name) not in owners and key(claim, name) not in taken:
                    moved = replace(claim, table=name, renamed_from=claim.table,
                                    shared_with=pipeline if same else None)
                    taken.add(key(moved))
                    resolved.append(moved)
                    fresh.append(moved)
                    break
            continue
        clash = f" (as {table!r}, which differs only in case)" if table != claim.table else ""
        raise RuntimeFailure(
            f"Table {claim.schema}.{claim.table}{clash} already holds {source} {source_table} (recipe "
            f"{pipeline}); stream {claim.stream!r} of recipe {claim.pipeline} reads {claim.source} "
            f"{claim.source_table} and would merge into it.",
            f"Load it into its own table: set `into: NEW_NAME` on the stream in the recipe (CLI: --streams "
            f"'{claim.stream}:NEW_NAME'), or another destination schema; nothing was loaded.")
    return resolved, fresh


def text_keys(key: Sequence[str], stored: dict[str, str]) -> list[str]:
    """The key columns `typed_table` keeps as text: all but one a table already holds as instants
    (an earlier version typed it so). Widened, its loaded keys would be rewritten as UTC text that
    no incoming id matches, and every record would land a second time."""
    return [k for k in key if stored.get(k) != "timestamptz"]


def typed_table(rows: list[dict], *, run_id: str, extracted_at: datetime,
                airbyte: bool = False, sync_id: str | None = None, generation: int = 0,
                times: dict[str, str] | None = None, keys: Sequence[str] = ()) -> tuple[pa.Table, dict[str, str]]:
    """Rows as an Arrow table with the metadata columns, and the logical type of each column.
    `times`: declared time columns, TIMESTAMPTZ even when every value here is null. `keys`: the
    primary key, whose columns keep their text: typed as instants, two ids naming the same instant
    in other words (`...T00:00:00Z`, `...T01:00:00+01:00`) would be one row, merged into it."""
    types = infer_types(rows)
    types.update({c: "timestamptz" for c in times or () if types.get(c) == "null"})
    types.update({c: "varchar" for c in keys if types.get(c) == "timestamptz"})
    table = to_arrow(rows, types)
    n = table.num_rows
    stamp = extracted_at.isoformat()
    meta: dict[str, pa.Array] = {
        "_purelink_run_id": pa.array([run_id] * n, pa.string()),
        "_purelink_extracted_at": pa.array([stamp] * n, pa.string()),
    }
    if airbyte:
        ids = [str(uuid.uuid4()) for _ in range(n)]
        meta_json = json.dumps({"changes": [], "sync_id": sync_id or run_id}, separators=(",", ":"))
        meta.update({
            "_airbyte_raw_id": pa.array(ids, pa.string()),
            "_airbyte_extracted_at": pa.array([stamp] * n, pa.string()),
            "_airbyte_meta": pa.array([meta_json] * n, pa.string()),
            "_airbyte_generation_id": pa.array([generation] * n, pa.int64()),
            "_airbyte_ab_id": pa.array(ids, pa.string()),
            "_airbyte_emitted_at": pa.array([stamp] * n, pa.string()),
        })
    for name, array in meta.items():
        table = table.append_column(name, array)
    types.update(META_PURELINK)
    if airbyte:
        types.update(META_AIRBYTE)
    return table, types


class Destination:
    """Interface shared by DuckDB and the warehouse destinations."""

    airbyte_metadata = False

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def start_run(self, *, run_id: str, pipeline: str, recipe: str, version: int, mode: str) -> None:
        raise NotImplementedError

    def finish_run(self, run_id: str, **fields: Any) -> None:
        raise NotImplementedError

    def record_finished(self, run_id: str, finished: dict) -> None:
        """The run's row in `_purelink.executions`, from its `finished` event."""
        cause = finished.get("cause")
        # A run that did not finish counts what it committed (what a re-run resumes after), not
        # what it read: "failed, 0 records" over 10,000 committed rows misleads.
        records = finished.get("records", 0) if finished["status"] == "success" else \
            finished.get("committed", finished.get("records", 0))
        self.finish_run(
            run_id, status=finished.get("outcome") or finished["status"], duration_s=finished["duration_s"],
            records=records, requests=finished.get("requests", 0),
            bytes=finished.get("bytes", 0), errors=finished.get("errors", 0),
            warnings=finished.get("warnings", 0), dead_letters=finished.get("dead_letters", 0),
            error_message=finished.get("error"), cause=json.dumps(cause) if cause else None,
            streams=finished.get("streams", {}),
            **({"mode": finished["mode"]} if finished.get("mode") else {}))  # a continued refresh says so

    def previous_records(self, pipeline: str, mode: str) -> int | None:
        """What a run in `mode` may expect, from the pipeline's earlier runs here: for a full
        refresh, the records of the last one that read everything (a full refresh, or the first
        sync); None when nothing is known, and for other runs (their size is what changed)."""
        return None

    def record_failed_open(self, run_id: str, finished: dict, **run: Any) -> None:
        """The executions row of a run that failed as `open()` ran (`run`: start_run's fields), where
        the store can still take it: DuckDB, when a setting failed and not the file. Most stores
        cannot (the failure to open was theirs); the cause is in the events either way."""

    def end_run(self, run_id: str, finished: dict, *, opened: bool, **run: Any) -> None:
        """The run's executions row however it ended (`record_finished` once open, else
        `record_failed_open` with start_run's fields in `run`), then close. Never raises: the
        `finished` event must still go out with its cause, so a row that cannot be written is logged."""
        try:
            if opened:
                self.record_finished(run_id, finished)
            else:
                self.record_failed_open(run_id, finished, **run)
        except Exception as exc:  # noqa: BLE001 - see above
            logging.getLogger("purelink.runtime").warning("could not write the executions row: %s", exc)
        finally:
            if opened:
                self.close()

    def load_state(self, pipeline: str, stream: str) -> dict[str, Any]:
        raise NotImplementedError

    def reset_stream(self, pipeline: str, stream: str, schema: str, table: str) -> None:
        raise NotImplementedError

    def begin_refresh(self, pipeline: str, stream: str, schema: str, table: str) -> bool:
        """Start a full refresh of API records. True: its pages go to the staging table and a
        finished refresh replaces the table (`Batch.replaces`, see staged_refresh); False (this
        destination does not stage): the table was emptied now, as `reset_stream` does."""
        self.reset_stream(pipeline, stream, schema, table)
        return False

    def claim_tables(self, claims: list[Claim], run_id: str) -> list[Claim]:
        """Record the owner of each target table, or refuse (RuntimeFailure) before anything loads;
        returns the claims with the table each loads into (see `check_claims`)."""
        raise NotImplementedError

    def commit(self, batches: Sequence[Batch], *, run_id: str, extracted_at: datetime) -> list[SchemaChange]:
        raise NotImplementedError

    def between_commits(self) -> None:
        """Called while no commit runs, on the thread that starts them: a moment to give back what
        earlier commits left in memory. Nothing to do for most destinations."""

    def location(self) -> str:
        raise NotImplementedError

    def storage_bytes(self) -> int:
        return 0
