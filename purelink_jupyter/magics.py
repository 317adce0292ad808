"""`%purelink` and `%%purelink`: the notebook's commands.

    %load_ext purelink
    %purelink                                  # the wizard
    %purelink --source stripe                  # the wizard, at the streams of Stripe
    r = %purelink run stripe_customers         # live monitor; r["customers"] is a DataFrame (it waits
                                               # for the run, which goes on in the background)
    %purelink recipes                          # a DataFrame of the workspace's recipes
    %purelink inspect --tables                 # tables and row counts, a DataFrame
    %purelink inspect --query "SELECT ..."     # any read-only query, a DataFrame
    %purelink export stripe_customers nb.ipynb # the recipe as a clean notebook
    %purelink import nb.ipynb                  # and back into the workspace
    %purelink history stripe_customers         # a DataFrame of its versions and their runs

    %%purelink [--no-test] [--no-run]          # a YAML recipe as the cell body: validate, save,
    name: stripe_customers                     # generate, test on 5 records, run
    ...

Settings: `%config Purelink.executor = "local"`, `.workspace`, `.db_path`, `.model`, `.arrow`,
`.widgets`; `%config Purelink` lists them. A mistake is a `UsageError` that says what to do.
"""

from __future__ import annotations

import functools
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from IPython.utils.process import arg_split
from traitlets import Bool, CaselessStrEnum, Int, Unicode

from purelink.errors import RuntimeFailure
from purelink.secrets.redact import redact

COMMANDS = ("run", "recipes", "inspect", "export", "import", "history")


def friendly(func):
    """A user's mistake becomes a UsageError (a sentence and what to do), not a traceback. The one
    place the notebook catches Purelink's exceptions (`RuntimeFailure` is their root)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except RuntimeFailure as exc:
            raise UsageError(redact(exc.paragraph())) from None

    return wrapper


@magics_class
class Purelink(Magics):
    """Purelink in IPython. Settings are traitlets, so `%config Purelink.executor = "local"` works."""

    executor = CaselessStrEnum(("auto", "docker", "local"), default_value="auto",
                               help="Where pipelines run: docker, local, or auto (Docker when it answers, "
                                    "else local with a warning).").tag(config=True)
    workspace = Unicode("", help="Folder with recipes/, pipelines/ and data/; empty: $PURELINK_WORKSPACE "
                                 "or the current directory.").tag(config=True)
    db_path = Unicode("", help="DuckDB file that runs load into and inspect reads; empty: each recipe's "
                               "own (data/purelink.duckdb).").tag(config=True)
    model = Unicode("", help="The assistant's Gemini model (used when GEMINI_API_KEY is set); empty: "
                             "its default.").tag(config=True)
    arrow = Bool(False, help="Return Arrow tables instead of pandas DataFrames.").tag(config=True)
    widgets = Bool(True, help="Show live widgets; False prints text (for consoles and logs).").tag(config=True)
    sample_size = Int(5, help="Records per stream in a test run.").tag(config=True)
    insert_cells = Bool(True, help="Let the wizard insert the pipeline cell below itself.").tag(config=True)

    def __init__(self, shell=None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.wizard = None  # the last wizard opened, for a look from code
        self.pending: list = []  # runs started here that go on in the background

    def settle(self, db_path=None) -> None:
        """Wait for the background runs started here (on `db_path`, or all): DuckDB has one
        writer per file, and a read during a run would find it busy."""
        for run in list(self.pending):
            if not run.done and (db_path is None or run.db_path == db_path):
                print(f"waiting for the run of {run.recipe.name} to finish...")
                run.join()
        self.pending = [r for r in self.pending if not r.done]

    # -- helpers ----------------------------------------------------------------------------------
    def engine(self):
        from purelink_jupyter.runs import NotebookEngine

        return NotebookEngine(self.workspace or None, db_path=self.db_path or None)

    def use_widgets(self) -> bool:
        if not self.widgets or getattr(self.shell, "kernel", None) is None:
            return False
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return False
        return True

    def executor_for(self, explicit: str | None = None) -> str | None:
        """--executor, else `%config Purelink.executor` when set to docker or local, else None: the
        recipe's own choice."""
        return explicit or (self.executor if self.executor != "auto" else None)

    def monitor(self, title: str):
        from purelink_jupyter.monitor import LiveMonitor, TextMonitor

        return LiveMonitor(title) if self.use_widgets() else TextMonitor(title)

    def _parse(self, line: str):
        try:
            argv = arg_split(line, posix=True)
        except ValueError as exc:
            raise UsageError(f"Cannot read the options: {exc}. Close the quotes around --query.") from None
        return self.purelink.parser.parse_args(argv)

    # -- the magic ----------------------------------------------------------------------------------
    @magic_arguments()
    @argument("command", nargs="?", help="run, recipes, inspect, export, import or history; nothing opens the wizard")
    @argument("args", nargs="*", help="the command's arguments: a recipe NAME, a notebook path")
    @argument("--source", help="wizard: open at the streams of this source, e.g. stripe")
    @argument("--executor", choices=("auto", "docker", "local"), help="run: override Purelink.executor")
    @argument("--full-refresh", action="store_true", help="run: reload everything, ignoring the saved state")
    @argument("--arrow", action="store_true", help="run: return Arrow tables instead of DataFrames")
    @argument("--wait", action="store_true", help="run: block the cell until the run ends (the kernel's "
                                                   "interrupt then stops it) instead of running in the background")
    @argument("--tables", action="store_true", help="inspect: tables and row counts (the default)")
    @argument("--query", help="inspect: one read-only SQL query, quoted")
    @argument("--db", help="inspect: a DuckDB file other than the workspace's")
    @argument("--destination", help="inspect: any store by URL (postgresql://..., md:DB, bigquery://P/D)")
    @argument("--destination-credential", help="inspect: the vault entry with that store's password or token")
    @argument("--no-test", action="store_true", help="%%%%purelink: skip the test run")
    @argument("--no-run", action="store_true", help="%%%%purelink: stop after the test run")
    @argument("--base-url", help="%%%%purelink: replace the recipe's base URL (a sandbox, a proxy)")
    @line_cell_magic
    def purelink(self, line: str = "", cell: str | None = None):
        """Purelink: the wizard, runs, recipes, inspection and notebook export.

        `%purelink` alone opens the wizard; `%%purelink` takes a YAML recipe as the cell body.
        """
        args = self._parse(line)
        if cell is not None:
            if args.command:
                raise UsageError("%%purelink takes a YAML recipe as the cell body and only options on its "
                                 f"first line, not {args.command!r}. Use %purelink {args.command} on one line.")
            return friendly(self._recipe_cell)(args, cell)
        if not args.command:
            return friendly(self._wizard)(args)
        if args.command not in COMMANDS:
            raise UsageError(f"%purelink has no command {args.command!r}. Commands: {', '.join(COMMANDS)}; "
                             "%purelink alone opens the wizard, %purelink? shows the help.")
        return friendly(getattr(self, f"_{args.command}"))(args)

    # -- commands ---------------------------------------------------------------------------------
    def _one(self, args, what: str) -> str:
        if len(args.args) != 1:
            raise UsageError(f"Name one {what}: %purelink {args.command} NAME.")
        return args.args[0]

    def _wizard(self, args):
        if not self.use_widgets():
            raise UsageError("The wizard needs a notebook that shows widgets (JupyterLab, Notebook 7, VS Code).\n"
                             "Here, use `purelink el-agent` in a terminal, or %%purelink with a YAML recipe.")
        from purelink_jupyter.wizard import Wizard

        self.wizard = Wizard(engine=self.engine(), source=args.source, executor=self.executor,
                             model=self.model or None, sample_size=self.sample_size,
                             insert_cells=self.insert_cells, arrow=self.arrow)
        display(self.wizard)

    def run_recipe(self, recipe, *, executor: str | None = None, full_refresh: bool = False,
                   arrow: bool = False, wait: bool = False):
        """Run with the live monitor. With widgets the run goes on in the background and a
        `PendingResult` comes back at once (its items wait for the end); otherwise, or with
        `wait=True`, the cell blocks and a `purelink.engine.Result` comes back. A failed run is a
        UsageError (at once when blocking, when the result is read otherwise)."""
        from purelink.engine import Result
        from purelink_jupyter.runs import run_blocking, run_in_background

        engine = self.engine()
        recipe = engine.recipe(recipe)
        monitor = self.monitor(f"{recipe.name} v{recipe.version}")
        options = {"executor": self.executor_for(executor), "full_refresh": full_refresh}
        arrow = arrow or self.arrow
        self.settle(engine.db_path(recipe))
        if hasattr(monitor, "widget") and not wait:
            pending = run_in_background(engine, recipe, monitor=monitor, arrow=arrow, **options)
            self.pending.append(pending)
            pending.display = display(monitor, display_id=True)
            return pending
        shown = display(monitor, display_id=True) if hasattr(monitor, "widget") else None
        outcome = run_blocking(engine, recipe, monitor=monitor, **options)
        if shown is not None:
            shown.update(monitor)  # the text fallback of the saved notebook now holds the summary
        done = outcome.finished or {}
        if not outcome.ok and done.get("status") != "stopped":
            raise UsageError(redact(f"The run of {recipe.name} did not succeed: "
                                     f"{done.get('error') or 'see the summary above'}\n"
                                     f"{done.get('guidance') or f'The events are in {engine.workspace.logs}.'}"))
        return Result(recipe, outcome, engine.tables(recipe, arrow=arrow))

    def _run(self, args):
        return self.run_recipe(self._one(args, "recipe"), executor=args.executor,
                               full_refresh=args.full_refresh, arrow=args.arrow, wait=args.wait)

    def _recipes(self, args):
        import pandas as pd

        engine = self.engine()
        rows = []
        for name in engine.recipes.names():
            r = engine.recipes.load(name)
            rows.append({"name": r.name, "version": r.version, "source": r.source.name,
                         "streams": ", ".join(s.name for s in r.streams), "destination": r.destination.kind,
                         "executor": r.executor, "created_at": r.created_at})
        if not rows:
            print(f"No recipes in {engine.workspace.recipes} yet: open the wizard with %purelink, or write one "
                  "in a %%purelink cell.")
        return pd.DataFrame(rows, columns=["name", "version", "source", "streams", "destination", "executor",
                                           "created_at"])

    def _inspect(self, args):
        from purelink.cli.inspect import open_db

        engine = self.engine()
        if args.args:
            raise UsageError("Quote the SQL and pass it with --query: %purelink inspect --query \"SELECT ...\".")
        if args.destination:  # any store, read through purelink.storage (its errors are PurelinkErrors)
            import purelink.storage

            with purelink.storage.open(args.destination, args.destination_credential,
                                       root=engine.workspace.root) as store:
                return store.query(args.query) if args.query else store.tables()
        db = engine.workspace.db_path(args.db) if args.db else (engine.db_override or engine.workspace.default_db)
        self.settle(db)
        con = open_db(db)
        try:
            if args.query:
                import duckdb

                try:
                    return con.execute(args.query).df()
                except duckdb.Error as exc:
                    raise UsageError(f"The query failed: {str(exc).splitlines()[0]}\n"
                                     "See the tables with %purelink inspect --tables.") from None
            return con.execute(
                "SELECT schema_name AS schema, table_name AS table, estimated_size AS rows FROM duckdb_tables() "
                "ORDER BY schema_name = '_purelink', schema_name, table_name").df().pipe(_exact_counts, con)
        finally:
            con.close()

    def _export(self, args):
        from purelink.lifecycle.bundle import where_rows_are
        from purelink.pipeline.notebook import export_notebook

        if len(args.args) != 2:
            raise UsageError("Name the recipe and the notebook: %purelink export NAME notebook.ipynb.")
        engine = self.engine()
        recipe = engine.recipe(args.args[0])
        path = export_notebook(recipe, args.args[1], workspace=engine.workspace, tables=where_rows_are(engine, recipe))
        print(f"wrote {path}")

    def _import(self, args):
        from purelink.pipeline.notebook import import_notebook

        engine = self.engine()
        path = engine.workspace.root / self._one(args, "notebook")
        recipe = engine.recipes.save(import_notebook(path))
        print(f"recipe {engine.recipes.path(recipe.name, recipe.version)}")

    def _history(self, args):
        import pandas as pd

        from purelink.lifecycle.timeline import HISTORY_COLUMNS, history_rows

        engine = self.engine()
        name = self._one(args, "recipe")
        self.settle()  # the runs table is read from the DuckDB file a background run may be writing
        return pd.DataFrame(history_rows(engine.recipes, name), columns=HISTORY_COLUMNS)

    def _recipe_cell(self, args, cell: str):
        from purelink.recipes import parse_recipe
        from purelink_jupyter.runs import run_blocking, scratch_db

        recipe = parse_recipe(cell, origin="the %%purelink cell")
        updates = {}
        if args.base_url:
            updates["source"] = recipe.source.model_copy(update={"base_url": args.base_url})
        if args.executor:
            updates["executor"] = args.executor
        recipe = recipe.model_copy(update=updates) if updates else recipe
        engine = self.engine()
        saved = engine.recipes.save(recipe)
        print(f"recipe  {engine.recipes.path(saved.name, saved.version)}")
        print(f"module  {engine.generate(saved)}")
        executor = self.executor_for(args.executor)
        if not args.no_test:
            self.settle()
            monitor = self.monitor(f"test run of {saved.name} ({self.sample_size} records per stream)")
            shown = display(monitor, display_id=True) if hasattr(monitor, "widget") else None
            test = run_blocking(engine, saved, monitor=monitor, executor=executor, sample=self.sample_size,
                                db_path=scratch_db(engine, saved))
            if shown is not None:
                shown.update(monitor)
            if not test.ok:
                done = test.finished or {}
                raise UsageError(redact(f"The test run of {saved.name} failed: {done.get('error') or 'see above'}"
                                         f"\n{done.get('guidance') or 'Fix the recipe or the key and run the cell again.'}"))
        if args.no_run:
            return None
        return self.run_recipe(saved, executor=executor, full_refresh=args.full_refresh, arrow=args.arrow,
                               wait=args.wait)


def _exact_counts(frame, con):
    """duckdb_tables() estimates; a person asking for row counts wants them exact."""
    frame["rows"] = [con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]
                     for s, t in zip(frame["schema"], frame["table"])]
    return frame
