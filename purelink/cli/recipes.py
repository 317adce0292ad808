"""`purelink recipes new / list / show / run / export`; share/import in cli/share.py, history/diff in cli/history.py."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from pathlib import Path

from purelink.cli import add_executor, history, in_workspace, share
from purelink.errors import RecipeError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = sub.add_parser("new", help="create a recipe and its module without questions")
    new.add_argument("name")
    new.add_argument("--source", help="catalog name, e.g. stripe (required for a new recipe)")
    new.add_argument("--streams", help="comma-separated, e.g. customers,charges (required for a new recipe); each may name "
                     "its target table: customers:my_customers, public.production:plant1_production")
    new.add_argument("--update", action="store_true",
                     help="the recipe exists: write its next version, changing only the options given here")
    new.add_argument("--base-url", help="replaces the spec's base URL (a sandbox, a proxy) or a database URL")
    new.add_argument("--credential", help="name of the secret holding the key (vault entry or env var)")
    new.add_argument("--var", action="append", metavar="NAME=VALUE",
                     help="a setting of the source, e.g. owner=octocat for GitHub (see `purelink sources show`)")
    new.add_argument("--db", help="DuckDB file relative to the workspace (default data/purelink.duckdb); "
                     "a folder outside the workspace must exist already")
    new.add_argument("--destination", metavar="URL",
                     help="where the rows land: duckdb:PATH, postgresql://USER@HOST:PORT/DB?schema=raw, md:DB, "
                          "bigquery://PROJECT/DATASET, iceberg:///PATH (no password in it)")
    new.add_argument("--destination-credential", metavar="NAME",
                     help="vault entry with the destination's password, token or service-account JSON")
    add_executor(new, of="auto")
    new.add_argument("--history-start", help="ISO date to load from, e.g. 2024-01-01")
    new.add_argument("--rate-limit", type=float, metavar="R",
                     help="requests per second the pipeline allows itself (default: the limit the API documents, "
                          "see `purelink sources show NAME`)")
    new.add_argument("--columns", help="stream:col1,col2 to keep only those columns", action="append")
    new.add_argument("--cursor", action="append", metavar="TABLE:COLUMN",
                     help="the column that says a row changed, e.g. public.film:last_update (databases)")
    new.add_argument("--format", choices=["table", "json"], default="table")
    new.add_argument("--from", dest="from_library", metavar="LIBRARY_RECIPE",
                     help="start from a ready recipe (see `recipes list --library`); --var fills its ${NAME}s")

    ls = sub.add_parser("list", help="recipes in this workspace; --library: the ready ones shipped, --shared: bundles")
    ls.add_argument("--format", choices=["table", "json"], default="table")
    ls.add_argument("--library", action="store_true", help="the ready recipes shipped with purelink instead")

    show = sub.add_parser("show", help="print a recipe")
    show.add_argument("name")
    show.add_argument("--version", type=int)

    run = sub.add_parser("run", help="run a recipe (in a container when Docker answers)",
                         epilog="exit status: 0 success, 1 failed, 130 stopped by you ('q' or Ctrl-C: what was "
                                "committed stays, the same command resumes), 143 stopped by SIGTERM (likewise)")
    run.add_argument("name")
    add_executor(run)
    run.add_argument("--full-refresh", action="store_true",
                     help="read every stream again from its history start; its table keeps the rows loaded so "
                          "far until the new copy is complete, which then replaces them in one commit")
    run.add_argument("--sample", type=int, metavar="N", help="a test run of N records per stream into a scratch db")
    run.add_argument("--format", choices=["table", "json"], default="table")
    run.add_argument("--version", type=int, metavar="N", help="run version N (roll back); default the latest")

    export = sub.add_parser("export", help="export a recipe as a notebook")
    export.add_argument("name")
    export.add_argument("--notebook", type=Path, required=True)
    history.add_actions(sub)
    share.add_actions(sub)
    share.add_list_options(ls)


def run(args: argparse.Namespace) -> int:
    from purelink.execution import prestart

    if args.action == "run" and args.executor != "docker":
        # The pipeline's interpreter imports its libraries while this one finds the recipe, its
        # connector and keys (about 0.25 s of each); a container run, or a mistake, leaves it unused.
        from purelink.workspace import Workspace

        prestart.prestart(Workspace.at(args.workspace).pipelines / f"{args.name}.py")
    try:
        from purelink.engine import Engine

        return ACTIONS[args.action](Engine(args.workspace), args)
    finally:
        prestart.discard()


def _new(engine, args) -> int:
    from purelink.recipes import parse_recipe

    if args.from_library:
        from purelink.cli.recipes_library import new_from_library

        return new_from_library(engine, args)
    versions = engine.recipes.versions(args.name)
    latest = engine.recipes.load(args.name) if versions else None
    if latest is None and not (args.source and args.streams):
        raise RecipeError(f"A new recipe needs --source and --streams ({args.name} does not exist yet).",
                          f"For example: purelink recipes new {args.name} --source stripe --streams customers")
    if args.update and latest is None:
        raise RecipeError(f"There is no recipe {args.name} to update.", "Leave out --update to create it.")
    _password_to_vault(args)
    base = latest.model_dump(mode="json", exclude={"version", "created_at"}) if latest else None
    data = _settings(args, engine.workspace.root, base)
    recipe = parse_recipe(_yaml(data), origin="the new recipe")
    if latest is not None and recipe.content() != latest.content() and not args.update:
        # Writing the next version from defaults would silently drop what the recipe holds beyond
        # these options (purpose: production, validations): the user says which they mean.
        raise RecipeError(
            f"A recipe named {args.name} exists (v{latest.version}) and this command changes it.",
            f"To write v{versions[-1] + 1} changing only the options given here and keeping every other "
            f"setting, add --update. To start afresh, choose another name. See it with "
            f"`purelink recipes show {args.name}`.")
    from purelink.recipes import data_folder

    if recipe.destination.kind == "duckdb":
        data_folder(engine.workspace, engine.db_path(recipe))
    recipe = engine.recipes.save(recipe)
    module = engine.generate(recipe)
    if args.format == "json":
        print(json.dumps({"name": recipe.name, "version": recipe.version,
                          "recipe": str(engine.recipes.path(recipe.name, recipe.version)), "module": str(module)}))
    else:
        print(f"recipe  {engine.recipes.path(recipe.name, recipe.version)}")
        print(f"module  {module}")
        rate = _rate_line(engine, recipe)
        if rate:
            print(f"rate    {rate}")
        key = _key_line(engine, recipe)
        if key:
            print(f"key     {key}")
        if latest is not None:
            from purelink.cli.narrowed import widened_notes

            for note in widened_notes(engine, latest, recipe, command=f"purelink recipes run {recipe.name}"
                                      f"{in_workspace(args)}"):
                print(f"note    {note}")
        print(f"next    purelink recipes run {recipe.name}{in_workspace(args)}")
    return 0


def _key_line(engine, recipe) -> str | None:
    """Where the run will look for the API's key, said now when it will not find one."""
    from purelink.errors import CredentialError
    from purelink.pipeline.codegen import credential_name
    from purelink.secrets.resolve import resolve_key

    spec = engine.spec(recipe)
    if spec.kind != "rest" or spec.auth.style == "none":
        return None
    name = credential_name(recipe, spec)
    try:
        resolve_key(name, spec.auth.env, interactive=False)
    except CredentialError:
        also = f" or export {spec.auth.env}" if spec.auth.env and spec.auth.env != name else ""
        return (f"{name} is not set yet: store it with `purelink secrets set {name}`{also} "
                f"(or export {name}) before the run")
    return None


def _rate_line(engine, recipe) -> str | None:
    """The requests per second an API pipeline will allow itself, and where that figure comes from."""
    spec = engine.spec(recipe)
    if spec.kind != "rest":
        return None
    if recipe.requirements.rate_limit:
        return f"{recipe.requirements.rate_limit:g} requests/s (set in the recipe; change with --update --rate-limit R)"
    documented = spec.rate_limit.requests_per_second
    if not documented:
        return "no limit of its own: it slows down when the API answers 429 (set one with --update --rate-limit R)"
    from purelink.catalog.openapi_auth import GUESSED_RATE

    if spec.rate_limit.notes == GUESSED_RATE:
        return (f"{documented:g} requests/s, a cautious guess: {spec.title}'s OpenAPI document states no limit "
                "(once you know it: --update --rate-limit R)")
    return (f"{documented:g} requests/s, the limit {spec.title} documents "
            "(a sandbox or a higher plan allows more: --update --rate-limit R)")


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data)


def _settings(args, workspace, base: dict | None) -> dict:
    """The recipe's settings: `base` (the latest version's, with --update) with only the options
    given on this command line changed; without a base, the defaults for the rest."""
    from purelink.catalog.spec import get_spec
    from purelink.runtime.records import clash, column_name

    data = base or {"name": args.name, "source": {}, "streams": [], "requirements": {}, "destination": {},
                    "executor": "auto"}
    source = data["source"]
    spec = get_spec(args.source or source["name"], workspace)
    if args.source:
        source["name"] = spec.name
    for option, key in (("base_url", "base_url"), ("credential", "credential")):
        if getattr(args, option) is not None:
            source[key] = getattr(args, option)
    if args.var:
        source["variables"] = {**(source.get("variables") or {}), **dict(v.partition("=")[::2] for v in args.var)}
    columns = {}
    for item in args.columns or []:
        stream, _, cols = item.partition(":")
        columns[stream] = [c for c in cols.split(",") if c]
    if args.streams:
        old = {s["name"]: s for s in data["streams"]}
        targets = dict(_pair(s, "--streams", "SOURCE_TABLE:TARGET_TABLE", optional=True)
                       for s in args.streams.split(",") if s.strip())
        data["streams"] = [{**old.get(n, {"name": n}), **({"into": into} if into else {})}
                           for n, into in targets.items()]
    cursors = dict(_pair(c, "--cursor", "TABLE:COLUMN") for c in args.cursor or [])
    unknown = [c for c in cursors if c not in {s["name"] for s in data["streams"]}]
    if unknown:
        raise RecipeError(f"--cursor names {', '.join(unknown)}, which is not among --streams.",
                          f"Use one of: {', '.join(s['name'] for s in data['streams'])}.")
    if spec.kind == "rest" and cursors:
        raise RecipeError("--cursor is for database sources.",
                          f"{spec.title} streams are read incrementally by the time field their spec declares; "
                          "drop --cursor.")
    if stray := [n for n in columns if n not in {s["name"] for s in data["streams"]}]:
        raise RecipeError(f"--columns names {', '.join(stray)}, which is not among the recipe's streams.",
                          f"Use one of: {', '.join(s['name'] for s in data['streams'])} (or add it to --streams).")
    for name, chosen in columns.items():
        if both := clash(chosen):
            raise RecipeError(f"--columns {name}: {both[0]!r} and {both[1]!r} would be held by one column "
                              f"({column_name(both[1])!r}), the second's values overwriting the first's.",
                              "Keep one of them.")
    for stream in data["streams"]:
        if stream["name"] in columns:
            stream["columns"] = columns[stream["name"]]
        if stream["name"] in cursors:
            stream["cursor"] = cursors[stream["name"]]
    if spec.kind == "rest":
        for s in data["streams"]:
            spec.stream(s["name"])  # a clear error for an unknown stream (tables are checked when they are read)
        spec.resolved(source.get("variables"), base_url=source.get("base_url"))  # a missing or unknown --var
    if args.history_start is not None:
        data["requirements"]["history_start"] = args.history_start
    if getattr(args, "rate_limit", None) is not None:
        if args.rate_limit <= 0:
            raise RecipeError(f"--rate-limit {args.rate_limit:g} is not a rate.",
                              "Give the requests per second the API allows, e.g. --rate-limit 25.")
        data["requirements"]["rate_limit"] = args.rate_limit
    if args.executor is not None:
        data["executor"] = args.executor
    if args.db is not None:
        data["destination"]["url"] = f"duckdb:{args.db}"
    if getattr(args, "destination", None) is not None:
        from purelink.storage import parse_url

        data["destination"]["url"] = parse_url(args.destination).text  # a password in it: refused, said why
    if getattr(args, "destination_credential", None) is not None:
        data["destination"]["credential"] = args.destination_credential
    return data


def _pair(text: str, option: str, form: str, optional: bool = False) -> tuple[str, str | None]:
    left, colon, right = (part.strip() for part in text.partition(":"))
    if not left or (colon and not right) or (not colon and not optional):
        raise RecipeError(f"{option} {text!r} should look like {form}.", f"For example {option} "
                          + ("public.production:plant1_production" if optional else "public.film:last_update") + ".")
    return left, right or None


def _password_to_vault(args) -> None:
    """A password written inside --base-url (postgresql://u:pw@host/db) goes to the vault, and the
    recipe and module get the URL without it and the secret's name: never the value."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    from purelink.secrets.secret import check_secret_name
    from purelink.secrets.vault import Vault

    parts = urlsplit(args.base_url or "")
    if parts.password is None:
        return
    name = check_secret_name(args.credential or f"{args.name}_password")
    Vault().set(name, unquote(parts.password))
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}@" if parts.username else ""
    args.base_url = urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))
    args.credential = name
    print(f"note    the password in --base-url is now in the vault as {name!r}; the recipe keeps the URL "
          f"without it ({args.base_url}) and the secret's name only", file=sys.stderr)


def _list(engine, args) -> int:
    if args.library:
        from purelink.cli.recipes_library import list_library

        return list_library(args)
    if args.shared:
        return share.list_shared(engine, args)
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
    from purelink.cli.narrowed import landing

    recipe = engine.recipes.load(args.name, args.version)
    sys.stdout.write(recipe.to_yaml())
    sys.stdout.write(landing(engine, recipe))
    return 0


@contextlib.contextmanager
def _terminated_as_stopped():
    """SIGTERM stops the run as Ctrl-C does (what was committed is kept, the summary says so and how
    to resume) instead of ending this process at once with no word; yields a list, non-empty once
    SIGTERM came."""
    came: list[int] = []

    def stop(signum, _frame) -> None:
        came.append(signum)
        raise KeyboardInterrupt

    try:
        before = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (a test harness): leave SIGTERM as it is
        yield came
        return
    try:
        yield came
    finally:
        signal.signal(signal.SIGTERM, before)


def _run(engine, args) -> int:
    from purelink.execution.console import EXIT_STOPPED, summary_text
    from purelink.execution.terminal import watch

    recipe = engine.recipes.load(args.name, args.version)
    db = None
    if args.sample:
        db = engine.workspace.data / f".scratch_{recipe.name}.duckdb"
        for suffix in ("", ".wal"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    resume = f"purelink recipes run {recipe.name}{in_workspace(args)}"  # `recipes import --run` has its own options
    if not args.sample:
        from purelink.cli.narrowed import narrowed_notes

        for note in narrowed_notes(engine, recipe, full_refresh=args.full_refresh, command=resume):
            print(note, file=sys.stderr)
    with _terminated_as_stopped() as terminated:  # `kill`, a process manager: stopped as with Ctrl-C
        result = watch(engine, recipe, resume_hint=resume, executor=args.executor,
                       full_refresh=args.full_refresh, sample=args.sample, db_path=db)
    warning = result.warning
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    finished = result.finished or {"status": "failed", "error": "\n".join(result.output[-5:]) or "no output"}
    if args.format == "json":
        print(json.dumps(finished, default=str))
    else:
        print(summary_text(finished, resume_hint=resume))
    if result.stopped:  # asked for, not a failure: the summary said what was kept and how to resume
        return 128 + signal.SIGTERM if terminated else EXIT_STOPPED
    if not result.ok:
        # The cause and what to do were just printed in the summary: point at them, do not repeat them.
        told = bool(finished.get("cause")) and args.format != "json"
        raise RecipeError(f"The run of {recipe.name} did not succeed" + (" (cause above)." if told else "."),
                          (None if told else finished.get("guidance"))
                          or f"Every event of the run is in {engine.workspace.logs}.")
    return 0


def _export(engine, args) -> int:
    from purelink.lifecycle.bundle import where_rows_are
    from purelink.pipeline.notebook import export_notebook

    recipe = engine.recipe(args.name)
    path = export_notebook(recipe, args.notebook, workspace=engine.workspace, tables=where_rows_are(engine, recipe))
    print(f"wrote {path}")
    return 0


ACTIONS = {"new": _new, "list": _list, "show": _show, "run": _run, "export": _export}
ACTIONS.update(history.ACTIONS)  # history, diff live in their own module
ACTIONS.update(share.ACTIONS)  # share, import too
