"""`purelink recipes new / list / show / run / share / export`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from purelink.cli import history
from purelink.errors import RecipeError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = sub.add_parser("new", help="create a recipe and its module without questions")
    new.add_argument("name")
    new.add_argument("--source", required=True, help="catalog name, e.g. stripe")
    new.add_argument("--streams", required=True, help="comma-separated, e.g. customers,charges")
    new.add_argument("--base-url", help="replaces the spec's base URL (a sandbox, a proxy) or a database URL")
    new.add_argument("--credential", help="name of the secret holding the key (vault entry or env var)")
    new.add_argument("--var", action="append", metavar="NAME=VALUE",
                     help="a setting of the source, e.g. owner=octocat for GitHub (see `purelink sources show`)")
    new.add_argument("--db", help="DuckDB file relative to the workspace (default data/purelink.duckdb)")
    new.add_argument("--executor", choices=["docker", "local", "auto"], default="auto")
    new.add_argument("--history-start", help="ISO date to load from, e.g. 2024-01-01")
    new.add_argument("--columns", help="stream:col1,col2 to keep only those columns", action="append")
    new.add_argument("--format", choices=["table", "json"], default="table")

    ls = sub.add_parser("list", help="recipes in this workspace")
    ls.add_argument("--format", choices=["table", "json"], default="table")

    show = sub.add_parser("show", help="print a recipe")
    show.add_argument("name")
    show.add_argument("--version", type=int)

    run = sub.add_parser("run", help="run a recipe (in a container when Docker answers)")
    run.add_argument("name")
    run.add_argument("--executor", choices=["docker", "local", "auto"])
    run.add_argument("--full-refresh", action="store_true")
    run.add_argument("--sample", type=int, metavar="N", help="a test run of N records per stream into a scratch db")
    run.add_argument("--format", choices=["table", "json"], default="table")
    run.add_argument("--version", type=int, metavar="N", help="run version N (roll back); default the latest")

    share = sub.add_parser("share", help="print the recipe to share (credentials by name only)")
    share.add_argument("name")
    share.add_argument("--output", type=Path)

    export = sub.add_parser("export", help="export a recipe as a notebook")
    export.add_argument("name")
    export.add_argument("--notebook", type=Path, required=True)
    history.add_actions(sub)


def run(args: argparse.Namespace) -> int:
    from purelink.engine import Engine

    engine = Engine(args.workspace)
    return ACTIONS[args.action](engine, args)


def _new(engine, args) -> int:
    import yaml

    from purelink.catalog.spec import get_spec
    from purelink.recipes import parse_recipe

    spec = get_spec(args.source)
    columns = {}
    for item in args.columns or []:
        stream, _, cols = item.partition(":")
        columns[stream] = [c for c in cols.split(",") if c]
    streams = [s.strip() for s in args.streams.split(",") if s.strip()]
    if spec.kind == "rest":
        for s in streams:
            spec.stream(s)  # a clear error for an unknown stream (tables are checked when they are read)
    variables = dict(v.partition("=")[::2] for v in args.var or []) or None
    if spec.kind == "rest":
        spec.resolved(variables, base_url=args.base_url)  # a clear error for a missing or unknown --var
    data = {
        "name": args.name, "source": {"name": spec.name, "base_url": args.base_url, "credential": args.credential,
                                      "variables": variables},
        "streams": [{"name": s, "columns": columns.get(s)} for s in streams],
        "requirements": {"history_start": args.history_start}, "executor": args.executor,
        "destination": {"path": args.db},
    }
    recipe = parse_recipe(yaml.safe_dump(data), origin="the new recipe")
    recipe = engine.recipes.save(recipe)
    module = engine.generate(recipe)
    if args.format == "json":
        print(json.dumps({"name": recipe.name, "version": recipe.version,
                          "recipe": str(engine.recipes.path(recipe.name, recipe.version)), "module": str(module)}))
    else:
        print(f"recipe  {engine.recipes.path(recipe.name, recipe.version)}")
        print(f"module  {module}")
        print(f"next    purelink recipes run {recipe.name}")
    return 0


def _list(engine, args) -> int:
    rows = []
    for name in engine.recipes.names():
        r = engine.recipes.load(name)
        rows.append({"name": r.name, "version": r.version, "source": r.source.name,
                     "streams": [s.name for s in r.streams], "destination": r.destination.kind,
                     "executor": r.executor, "created_at": r.created_at})
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"No recipes in {engine.workspace.recipes}. Create one: purelink recipes new NAME --source stripe "
              "--streams customers")
    else:
        for r in rows:
            print(f"{r['name']:<28} v{r['version']:<3} {r['source']:<12} {','.join(r['streams'])}")
    return 0


def _show(engine, args) -> int:
    recipe = engine.recipes.load(args.name, args.version)
    sys.stdout.write(recipe.to_yaml())
    return 0


def _run(engine, args) -> int:
    from purelink.execution.console import ConsoleMonitor, summary_text

    monitor = ConsoleMonitor()
    recipe = engine.recipes.load(args.name, args.version)
    db = None
    if args.sample:
        db = engine.workspace.data / f".scratch_{recipe.name}.duckdb"
        for suffix in ("", ".wal"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    result = engine.execute(recipe, executor=args.executor, full_refresh=args.full_refresh,
                            sample=args.sample, db_path=db, on_event=monitor)
    warning = getattr(result, "warning", None)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    finished = result.finished or {"status": "failed", "error": "\n".join(result.output[-5:]) or "no output"}
    if args.format == "json":
        print(json.dumps(finished, default=str))
    else:
        print(summary_text(finished))
    if not result.ok:
        raise RecipeError(f"The run of {recipe.name} did not succeed.",
                          finished.get("guidance") or f"See {engine.workspace.logs} for its events.")
    return 0


def _share(engine, args) -> int:
    recipe = engine.recipe(args.name)
    text = recipe.to_yaml()
    if args.output:
        args.output.write_text(text)
        print(f"wrote {args.output}: send it along; the receiver stores their own key under "
              f"{recipe.source.credential or 'the source env var'}")
    else:
        sys.stdout.write(text)
    return 0


def _export(engine, args) -> int:
    from purelink.pipeline.notebook import export_notebook

    path = export_notebook(engine.recipe(args.name), args.notebook, workspace=engine.workspace)
    print(f"wrote {path}")
    return 0


ACTIONS = {"new": _new, "list": _list, "show": _show, "run": _run, "share": _share, "export": _export}
ACTIONS.update(history.ACTIONS)  # history, diff live in their own module
