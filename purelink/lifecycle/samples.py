"""The sample and schema a bundle carries for one stream, without personal data.

Records come from the probe's preview file (samples/SOURCE_STREAM_preview.json, written when the
wizard sampled the stream) or else from the first rows the pipeline landed in DuckDB. Columns are
flagged as personal data the way the wizard flags them (`assistant.offline.column_note`: by name
and by the shape of their values), and flagged columns are removed from every record before it
leaves the workspace. The DDL is the probe's schema file, or the landed table's own.
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
    from purelink.runtime.records import select

    spec = engine.spec(recipe)
    stem = f"{spec.name}_{stream.name}".replace(".", "_").replace("/", "_")
    preview = engine.workspace.samples / f"{stem}_preview.json"
    schema_file = engine.workspace.schemas / f"{stem}.sql"
    records: list[dict] = []
    ddl = schema_file.read_text() if schema_file.is_file() else None
    if preview.is_file():
        try:
            raw = json.loads(preview.read_text())
        except ValueError:
            raw = []
        if stream.columns:
            keys = [k for k in _primary_key(spec, stream.name) if k not in stream.columns]
            raw = [select(r, [*keys, *stream.columns]) for r in raw if isinstance(r, dict)]
        records = [r for r in raw if isinstance(r, dict)][:rows]
    if not records or ddl is None:
        landed, table_ddl = _landed(engine, recipe, spec.name, stream.name, rows)
        records = records or landed
        ddl = ddl or table_ddl
    dropped = personal_columns(records, stream.name)
    return Sample([without(r, dropped) for r in records], ddl, dropped)


def _primary_key(spec, stream: str) -> list[str]:
    try:
        key = spec.stream(stream).primary_key
    except PurelinkError:
        return []
    return [key] if isinstance(key, str) else list(key or [])


def _landed(engine: Engine, recipe: Recipe, schema: str, stream: str, rows: int) -> tuple[list[dict], str | None]:
    """The first rows of the stream's DuckDB table, without purelink's own columns, and its DDL."""
    from purelink.runtime.destinations.duckdb import connect
    from purelink.runtime.errors import RuntimeFailure

    path = engine.db_path(recipe)
    if recipe.destination.kind != "duckdb" or not path.exists():
        return [], None
    table = stream
    if engine.spec(recipe).kind == "database":
        from purelink.pipeline.codegen_sql import destination_tables

        table = destination_tables(recipe).get(stream, stream)
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
