"""The sample and schema a bundle carries for one stream, without personal data.

Records come from the probe's preview file (samples/SOURCE_STREAM_preview.json, written when the
wizard sampled the stream) or else from the first rows the pipeline landed in DuckDB. Columns are
flagged as personal data the way the wizard flags them (`assistant.offline.column_note`: by name
and by the shape of their values), and flagged columns are removed from every record before it
leaves the workspace. The DDL is the recipe's table's own once a run made it (Engine.locations: a
second recipe on the same source loads into a table of its own), else the probe's typing of the
table the recipe names, with the recipe's columns.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from purelink.errors import PurelinkError

if TYPE_CHECKING:
    from purelink.engine import Engine
    from purelink.recipes import Recipe, StreamChoice


@dataclass
class Sample:
    records: list[dict]
    ddl: str | None = None
    dropped: list[str] = field(default_factory=list)  # column paths flagged as personal data


def personal_columns(records: list[dict], stream: str) -> list[str]:
    """Paths of the columns the probe's rules flag as personal data (email, phone, name, address...)."""
    from purelink.assistant.offline import PERSON_STREAMS, column_note
    from purelink.discovery.probe import infer_columns

    if not records:
        return []
    with tempfile.TemporaryDirectory(prefix="purelink-sample-") as tmp:
        path = Path(tmp) / "sample.json"
        path.write_text(json.dumps(records, default=str))
        columns = infer_columns(path)
    person = bool(PERSON_STREAMS.search(stream))
    flagged = [c.path for c in columns if column_note(c, person).pii != "none"]
    # a flagged parent (address) takes its children with it: list only the outermost
    return [p for p in flagged if not any(p.startswith(f"{q}.") for q in flagged)]


def without(record: dict, paths: list[str]) -> dict:
    out = json.loads(json.dumps(record, default=str))  # a deep copy the removal cannot leak back from
    for path in paths:
        *parents, leaf = path.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return out


def stream_sample(engine: Engine, recipe: Recipe, stream: StreamChoice, *, rows: int = 5) -> Sample:
    """The sample and DDL of the table the recipe's rows of `stream` are in (another recipe on the
    same source may own the stream's default table): that table's own DDL once a run made it, else
    the DDL the probe's records give the table the recipe names, with the recipe's columns."""
    from purelink.discovery.probe import table_ddl
    from purelink.runtime.records import select

    spec = engine.spec(recipe)
    stem = f"{spec.name}_{stream.name}".replace(".", "_").replace("/", "_")
    preview = engine.workspace.samples / f"{stem}_preview.json"
    schema_file = engine.workspace.schemas / f"{stem}.sql"
    raw: list[dict] = []
    if preview.is_file():
        try:
            raw = [r for r in json.loads(preview.read_text()) if isinstance(r, dict)]
        except ValueError:
            raw = []
    records = raw
    if stream.columns:
        keys = [k for k in _primary_key(spec, stream.name) if k not in stream.columns]
        records = [select(r, [*keys, *stream.columns]) for r in raw]
    records = records[:rows]
    landed_at = _location(engine, recipe, stream.name)
    ddl = None
    if landed_at is not None:
        landed, ddl = _landed(engine, recipe, landed_at, rows)
        records = records or landed
    elif raw:  # not run yet: the table the recipe names, typed from the probe's records
        schema, _, table = engine.targets(recipe)[stream.name].partition(".")
        ddl = table_ddl(schema, table, raw, stream.columns, tuple(_primary_key(spec, stream.name)),
                        airbyte=recipe.destination.airbyte_metadata, formats=dict(spec.stream(stream.name).formats))
    elif schema_file.is_file():
        ddl = schema_file.read_text()
    dropped = personal_columns(records, stream.name)
    return Sample([without(r, dropped) for r in records], ddl, dropped)


def _location(engine: Engine, recipe: Recipe, stream: str) -> str | None:
    """Where the recipe's rows of `stream` are in its DuckDB file; None when not there yet, or when
    the file cannot be read now (being written: the bundle goes without them rather than waiting)."""
    from purelink.runtime.errors import RuntimeFailure

    if recipe.destination.kind != "duckdb":
        return None
    try:
        return engine.locations(recipe).get(stream)
    except RuntimeFailure:
        return None


def _primary_key(spec, stream: str) -> list[str]:
    try:
        key = spec.stream(stream).primary_key
    except PurelinkError:
        return []
    return [key] if isinstance(key, str) else list(key or [])


def _landed(engine: Engine, recipe: Recipe, where: str, rows: int) -> tuple[list[dict], str | None]:
    """The first rows of the DuckDB table `where` (schema.table), without purelink's own columns, and its DDL."""
    from purelink.runtime.destinations.duckdb import connect
    from purelink.runtime.errors import RuntimeFailure

    path = engine.db_path(recipe)
    if recipe.destination.kind != "duckdb" or not path.exists():
        return [], None
    schema, _, table = where.partition(".")
    try:
        con = connect(path, read_only=True)
    except RuntimeFailure:
        return [], None  # being written: the bundle goes without a sample rather than waiting
    try:
        found = con.execute("SELECT sql FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                            [schema, table]).fetchone()
        if found is None:
            return [], None
        cur = con.execute(f'SELECT * FROM "{schema}"."{table}" LIMIT {int(rows)}')
        names = [d[0] for d in cur.description]
        records = [{k: v for k, v in zip(names, row) if not k.startswith("_purelink")} for row in cur.fetchall()]
        # JSON columns as the objects they hold, so a personal field inside one (metadata.account_manager)
        # is flagged and removed like a column, not shipped inside a string
        json_columns = {c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? AND data_type = 'JSON'",
            [schema, table]).fetchall()}
        for record in records:
            for column in json_columns & record.keys():
                if isinstance(record[column], str):
                    try:
                        record[column] = json.loads(record[column])
                    except ValueError:
                        pass
        ddl = f'CREATE SCHEMA IF NOT EXISTS "{schema}";\n{found[0].rstrip().rstrip(";")};\n'  # DuckDB's has its ";"
        return json.loads(json.dumps(records, default=str)), ddl
    finally:
        con.close()
