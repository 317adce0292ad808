"""Before `recipes run`: columns a table holds that the recipe's current version no longer selects,
and columns it selects that the table does not hold (an earlier version left them out).

The rule (the design summary, issue 12 item 8): an incremental run leaves such columns in the table
with the values already loaded; a full refresh rebuilds the table without them (the runtime records
each as `dropped` in `_purelink.schema_changes` where it can). Without this note a narrowed recipe "loads nothing" silently.
A column selected again is the other way round: an incremental run gives it values only in the
rows it loads, so a run that finds nothing new "succeeds" with the column still missing; the note
says so and names the full refresh that fills it for every row. `recipes new --update` says the
same when it writes the version that adds columns (`widened_notes`), before any run.

Also where a recipe's rows land, which `recipes show` prints after the recipe (`landing`).
"""

from __future__ import annotations

from purelink.errors import PurelinkError

META = ("_purelink_", "_airbyte_")


def narrowed_notes(engine, recipe, *, full_refresh: bool, command: str) -> list[str]:
    """One sentence per table that holds columns the recipe no longer selects; [] when none, or
    when the store cannot be read yet (nothing loaded)."""
    from purelink.runtime.records import column_name
    from purelink.storage import recipe_store

    narrowed = [s for s in recipe.streams if s.columns]
    if not narrowed:
        return []
    try:
        with recipe_store(recipe, root=engine.workspace.root) as store:
            owned = [(r["schema_name"], r["table_name"]) for r in store.query(
                "SELECT schema_name, table_name, pipeline FROM _purelink.tables").to_dict("records")
                if r["pipeline"] == recipe.name]
            notes = []
            for stream in narrowed:
                tables = [o for o in owned if o[1] == (stream.into or stream.name)]
                if not tables and len(owned) == 1 and len(recipe.streams) == 1:
                    tables = owned  # the one table the recipe's one stream loads into, named otherwise
                selected = [column_name(c) for c in stream.columns]  # address.city is column address_city
                for schema, table in tables:
                    held = store.columns(schema, table)
                    kept = {c.split(".")[0] for c in stream.columns} | set(selected)
                    extra = [c for c in held if not c.startswith(META) and c not in kept]
                    if extra:
                        notes.append(_note(recipe, f"{schema}.{table}", extra, full_refresh, command))
                    present = {h.lower() for h in held}
                    missing = [c for c in selected if c.lower() not in present]
                    if missing and not full_refresh:
                        notes.append(_missing_note(recipe, f"{schema}.{table}", missing, command))
            return notes
    except (PurelinkError, NotImplementedError):
        return []  # no database or no bookkeeping yet: nothing was loaded to compare with


def _note(recipe, table: str, extra: list[str], full_refresh: bool, command: str) -> str:
    cols = ", ".join(extra)
    if full_refresh:
        them, those = ("it", "that column and its values are") if len(extra) == 1 else \
            ("them", "those columns and their values are")
        return (f"note: this full refresh rebuilds {table} without {cols} (recipe {recipe.name} v{recipe.version} "
                f"no longer selects {them}): {those} dropped.")
    return (f"note: recipe {recipe.name} v{recipe.version} no longer selects {cols} of {table}. An incremental "
            f"run leaves them in the table with the values already loaded and gives them no new values; rows "
            f"not changed at the source are not loaded again. To rebuild the table without them "
            f"(their values are then dropped): {command} --full-refresh")


def _missing_note(recipe, table: str, missing: list[str], command: str) -> str:
    it = "it" if len(missing) == 1 else "them"
    return (f"note: recipe {recipe.name} v{recipe.version} selects {', '.join(missing)}, which {table} does not "
            f"have (an earlier version did not select {it}). An incremental run gives {it} values only in the rows "
            f"it loads; rows already loaded stay without. To load {it} for every row: {command} --full-refresh")


def widened_notes(engine, before, recipe, *, command: str) -> list[str]:
    """After `recipes new --update`: one sentence per stream whose loaded table lacks columns the new
    version now selects (or that now loads every field), saying which rows get them and how the rest
    do. [] when nothing is loaded yet (the first run loads them all)."""
    from purelink.runtime.records import column_name
    from purelink.storage import recipe_store

    earlier = {s.name: s.columns for s in before.streams}
    wider = [s for s in recipe.streams if earlier.get(s.name) and s.columns != earlier[s.name]]
    if not wider:
        return []
    try:
        where = engine.locations(recipe)
        with recipe_store(recipe, root=engine.workspace.root) as store:
            owned = {f"{r['schema_name']}.{r['table_name']}" for r in store.query(
                "SELECT schema_name, table_name, pipeline FROM _purelink.tables").to_dict("records")
                if r["pipeline"] == recipe.name}  # not another recipe's table of the stream's name
            notes = []
            for stream in wider:
                table = where.get(stream.name)
                if table not in owned:
                    continue
                held = {c.lower() for c in store.columns(*table.split(".", 1))}
                added = (["every field"] if stream.columns is None else  # which of them are new, only the source knows
                         [column_name(c) for c in stream.columns if column_name(c).lower() not in held])
                if added:
                    notes.append(_added_note(stream.name, table, added, command))
            return notes
    except (PurelinkError, NotImplementedError):
        return []  # no database or no bookkeeping yet: nothing was loaded without them


def _added_note(stream: str, table: str, added: list[str], command: str) -> str:
    if added == ["every field"]:
        what, it = f"now loads every field, not only the columns {table} has", "them"
    else:
        it = "it" if len(added) == 1 else "them"
        what = f"now also loads {', '.join(added)}, which {table} does not have"
    return (f"{stream} {what}: records read from the next run on carry {it}; rows already loaded stay without "
            f"{it} (rows not changed at the source are not loaded again). To load {it} for every row: "
            f"{command} --full-refresh")


def landing(engine, recipe) -> str:
    """Where the recipe's rows land, as YAML comments after it: the store, and each stream's table
    (the one its last run loaded, else the one the recipe names, marked as not loaded yet)."""
    from purelink.runtime.auth import mask

    store = engine.store(recipe)
    owners: dict[tuple[str, str], str] = {}
    try:
        loaded: dict[str, str] | None = engine.locations(recipe)
        if len(loaded) < len(recipe.streams):  # whose are the tables the others name
            owners = store.owners()
        reach = ""
    except Exception as exc:  # noqa: BLE001 - a store out of reach: the recipe's own names still help
        loaded = None
        reach = f" (not reachable now, so these are the tables the recipe names: {mask(str(exc).splitlines()[0])[:160]})"
    lines = [f"# its rows land in {store.location()}{reach}:"]
    for stream, table in engine.named_targets(recipe).items():
        if loaded is None:
            lines.append(f"#   {stream}: {table}")
        elif stream in loaded:
            lines.append(f"#   {stream}: {loaded[stream]}")
        elif (owner := owners.get(tuple(table.split(".", 1)), recipe.name)) != recipe.name:
            lines.append(f"#   {stream}: not loaded yet; {table} is recipe {owner}'s table, so its first run picks "
                         f"another and says which (to name one: --streams '{stream}:NAME')")
        else:
            lines.append(f"#   {stream}: {table} (not loaded yet)")
    return "\n".join(lines) + "\n"
