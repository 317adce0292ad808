"""What happened to a recipe: its versions with their diffs, the runs of each, its schema changes.

Versions and diffs come from the recipe files and their git commits; runs and schema changes from
`_purelink.executions` and `_purelink.schema_changes`, read in one short read-only session per
database so a run writing at the same time is never blocked for long.

    timeline(store, "stripe_customers")   # [{"version": 1, "change": ..., "diff": ..., "runs": [...]}, ...]
    recipe_diff(store, "stripe_customers", 1, 2)
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from purelink.errors import DatabaseBusy, RecipeError
from purelink.lifecycle.history import describe_change, file_at, version_commits

if TYPE_CHECKING:
    from purelink.recipes import Recipe, RecipeStore


def timeline(store: RecipeStore, name: str) -> dict:
    """Versions (oldest first) with change line, diff, commit and runs; and the schema changes."""
    versions = store.versions(name)
    if not versions:
        store.load(name)  # raises the usual "no recipe named ..." with its guidance
    recipes = {v: store.load(name, v) for v in versions}
    commits = version_commits(store.workspace, name)
    runs, changes = _recorded(store, name, recipes.values())
    out, previous = [], None
    for v in versions:
        recipe = recipes[v]
        commit = commits.get(v)
        out.append({
            "version": v, "created_at": recipe.created_at,
            "commit": commit.sha[:12] if commit else None,
            "change": (commit.message.partition(": ")[2] if commit and commit.message.startswith(f"{name} v{v}:")
                       else describe_change(previous, recipe).partition(": ")[2]),
            "diff": _unified(previous, recipe) if previous else "",
            "runs": [r for r in runs if r["version"] == v],
        })
        previous = recipe
    return {"name": name, "versions": out, "schema_changes": changes}


HISTORY_COLUMNS = ["version", "committed", "message", "runs", "last_status", "records", "schema_changes"]


def history_rows(store: RecipeStore, name: str) -> list[dict]:
    """One row per version, the shape of `%purelink history NAME`: when git took it, what changed,
    how many runs it had, the last one's status and records, and the schema changes seen in its runs."""
    story = timeline(store, name)
    commits = version_commits(store.workspace, name)
    rows = []
    for v in story["versions"]:
        runs = v["runs"]
        last = runs[-1] if runs else {}
        commit = commits.get(v["version"])
        rows.append({
            "version": v["version"], "committed": commit.date if commit else None, "message": v["change"],
            "runs": len(runs), "last_status": last.get("status"), "records": last.get("records"),
            "schema_changes": sum(1 for c in story["schema_changes"] if c["version"] == v["version"]),
        })
    return rows


def recipe_diff(store: RecipeStore, name: str, a: int, b: int) -> str:
    """The recipe's diff from version a to b, and the module's where git holds both."""
    old, new = store.load(name, a), store.load(name, b)
    text = f"{describe_change(old, new).replace(f' v{b}:', f' v{a} -> v{b}:', 1)}\n" + _unified(old, new)
    commits = version_commits(store.workspace, name)
    if a in commits and b in commits:
        module = Path("pipelines") / f"{name}.py"
        before, after = file_at(store.workspace, commits[a], module), file_at(store.workspace, commits[b], module)
        if before is not None and after is not None and before != after:
            text += "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                                 f"{module} (v{a})", f"{module} (v{b})"))
    return text


def parse_version(text: str) -> int:
    """`v2` or `2`."""
    raw = text.lower().removeprefix("v")
    if not raw.isdigit():
        raise RecipeError(f"{text!r} is not a version.", "Give versions as v1 or 1, as `recipes history` lists them.")
    return int(raw)


def _unified(old: Recipe, new: Recipe) -> str:
    def lines(r: Recipe) -> list[str]:
        return [line for line in r.to_yaml().splitlines(True)
                if not line.startswith(("# purelink recipe", "version:", "created_at:"))]

    return "".join(difflib.unified_diff(lines(old), lines(new), f"{old.filename}", f"{new.filename}"))


def _recorded(store: RecipeStore, name: str, recipes) -> tuple[list[dict], list[dict]]:
    from purelink.runtime.destinations.duckdb import connect
    from purelink.runtime.errors import RuntimeFailure

    paths = {store.workspace.db_path(r.destination.path) for r in recipes if r.destination.kind == "duckdb"}
    runs: list[dict] = []
    changes: list[dict] = []
    for path in sorted(paths):
        if not path.exists():
            continue
        try:
            con = connect(path, read_only=True)
        except RuntimeFailure as exc:
            raise DatabaseBusy(f"{path} is being written by another process.",
                               getattr(exc, "guidance", None) or "Try again when the run has finished.") from None
        try:
            tables = {r[0] for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = '_purelink'").fetchall()}
            if "executions" in tables:
                # read-only here, so a file from before the executor column is not upgraded: NULL
                have = {r[0] for r in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = '_purelink' "
                    "AND table_name = 'executions'").fetchall()}
                executor = "executor" if "executor" in have else "NULL AS executor"
                cur = con.execute(
                    "SELECT version, run_id, status, records, dead_letters, duration_s, started_at, mode, error_message, "
                    f"{executor}, streams FROM _purelink.executions WHERE recipe = ? ORDER BY started_at", [name])
                runs += [{**row, "kind": run_kind(row["mode"], row.pop("streams"))} for row in _rows(cur)]
            if "schema_changes" in tables:
                cur = con.execute(
                    "SELECT c.changed_at, e.version, c.stream, c.table_name, c.column_name, c.change, c.old_type, "
                    "c.new_type, c.run_id FROM _purelink.schema_changes c LEFT JOIN _purelink.executions e "
                    "ON e.run_id = c.run_id WHERE c.pipeline = ? ORDER BY c.changed_at", [name])
                changes += _rows(cur)
        finally:
            con.close()
    return runs, changes


def run_kind(mode: str | None, streams: str | None) -> str:
    """How a run read its source, in words: "full refresh", "incremental", and whether it went on
    with a refresh an earlier run left unfinished (`streams` is the executions row's JSON)."""
    try:
        per_stream = json.loads(streams) if streams else {}
    except ValueError:
        per_stream = {}
    streams = {name: s for name, s in per_stream.items() if isinstance(s, dict)}
    continued = sorted(name for name, s in streams.items() if s.get("refresh") == "continued")
    # A refresh that did not finish left its rows in a staging table: its records are not in the table.
    staged = sum(int(s.get("staged") or 0) for s in streams.values())
    waiting = f", {staged:,} rows staged" if staged else ""
    if mode == "full_refresh":
        return ("full refresh (continued)" if continued else "full refresh") + waiting
    if mode == "incremental" and continued:
        return f"incremental, continued the refresh of {', '.join(continued)}{waiting}"
    return (mode or "-") + waiting


def _rows(cur) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [{k: (v.isoformat(timespec="seconds") if hasattr(v, "isoformat") else v) for k, v in zip(names, row)}
            for row in cur.fetchall()]
