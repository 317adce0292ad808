"""The engine facade: generate a recipe's module, run it with the chosen executor, read results.

    result = purelink.run("stripe_customers")
    result["customers"]          # a pandas DataFrame read from DuckDB
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from purelink.catalog.spec import ConnectorSpec, get_spec
from purelink.errors import ExecutionError, PurelinkError
from purelink.execution import prestart
from purelink.execution.images import print_build_progress as build_progress
from purelink.execution.jobs import Job, LocalRunner, Run, Runner, RunResult, runtime_settings
from purelink.execution.reach import recipe_urls
from purelink.pipeline.codegen import credential_name, write_module
from purelink.recipes import Recipe, RecipeStore, data_folder
from purelink.secrets.redact import redact
from purelink.workspace import Workspace

EventCallback = Callable[[dict], None]


def resolve_credentials(recipe: Recipe, spec: ConnectorSpec, *, interactive: bool | None = False) -> dict[str, str]:
    """The secret values a run needs, by the names the module reads them under."""
    if spec.auth.style == "none":
        return {}
    if recipe.source.servers:  # a database recipe over several servers: one each
        from purelink.pipeline.codegen_sql import server_credentials

        return server_credentials(recipe, interactive=interactive)
    name = credential_name(recipe, spec)
    env_vars = tuple(dict.fromkeys(v for v in (name, spec.auth.env) if v))
    from purelink.secrets.resolve import CredentialError, resolve_key, resolve_secret

    if spec.kind == "database":  # the vault, the environment, libpq's password file, or none (the server decides)
        from purelink.secrets.pgpass import server_password

        password = server_password(name, f"password for {recipe.source.base_url or spec.base_url}", interactive,
                                   url=recipe.source.base_url or spec.base_url, env_vars=env_vars)
        return {name: password} if password else {}
    try:
        secret = resolve_key(name, spec.auth.env, interactive=interactive)  # see resolve_key for the order
    except CredentialError as exc:
        raise CredentialError(exc.message, exc.guidance + _vault_hint(recipe, spec)) from None
    found = {name: secret.reveal()}
    if spec.auth.password_env:  # Basic with a password of its own (Twilio's auth token): a second secret
        password = spec.auth.password_env
        found[password] = resolve_secret(password, env_vars=(password,), interactive=interactive).reveal()
        # The user name is then an account's name or id (Twilio's account SID, a Jira e-mail): the API
        # puts it in its own URLs and records, and it opens nothing without the password. Hidden as a
        # secret, it made every bundle of such a recipe "hold a secret" and `recipes share` refuse it.
        from purelink.secrets import redact

        redact.unregister(found[name])
    return found


def _vault_hint(recipe: Recipe, spec: ConnectorSpec) -> str:
    """Vault entries that look like this source's key (the demo stores `stripe_sandbox`): name them."""
    from purelink.secrets.vault import Vault

    near = [i.name for i in Vault().list() if spec.name.lower() in i.name.lower()]
    if not near:
        return ""
    return (f" The vault holds {', '.join(near)}: to use it, `purelink recipes new {recipe.name} --update "
            f"--credential {near[0]}`.")


def choose_runner(executor: str | None, on_build: Callable[[str], None] | None = build_progress
                  ) -> tuple[Runner, str | None]:
    """(runner, warning). `docker` asked for explicitly fails when no engine answers; `auto`
    falls back to a local run with a visible warning."""
    executor = executor or "auto"
    if executor == "local":
        return LocalRunner(), LocalRunner.warning
    from purelink.execution.docker import DockerRunner, docker_available

    if executor == "docker":
        if not docker_available():
            raise ExecutionError(
                "The Docker engine does not answer, so the pipeline cannot run in a container.",
                "Start Docker (on these machines: `bash scripts/docker-up.sh`), or run with "
                "`--executor local` to run it here without isolation.")
        return DockerRunner(on_build=on_build), None
    if docker_available():
        try:
            return DockerRunner(on_build=on_build), None
        except PurelinkError as exc:
            return LocalRunner(), f"{exc.message} Falling back to a local run. {LocalRunner.warning}"
    return LocalRunner(), "No Docker engine answers. " + LocalRunner.warning


class EventLog:
    """Appends events to logs/execution_YYYYMMDD.log (secrets are already masked by the runtime)."""

    def __init__(self, workspace: Workspace) -> None:
        workspace.logs.mkdir(parents=True, exist_ok=True)
        day = datetime.now(UTC).strftime("%Y%m%d")
        self.path = workspace.logs / f"execution_{day}.log"
        self._lock = threading.Lock()

    def write(self, event: dict) -> None:
        line = redact(json.dumps(event, default=str))
        with self._lock, open(self.path, "a") as fh:
            fh.write(line + "\n")


class Engine:
    """Operations on the recipes of one workspace."""

    def __init__(self, workspace: str | os.PathLike | Workspace | None = None) -> None:
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace.at(workspace)
        self.recipes = RecipeStore(self.workspace)

    def recipe(self, name: str | Recipe) -> Recipe:
        return name if isinstance(name, Recipe) else self.recipes.load(name)

    def spec(self, recipe: Recipe) -> ConnectorSpec:
        """The recipe's connector: the catalog's, or one imported into this workspace."""
        return get_spec(recipe.source.name, workspace=self.workspace.root)

    def generate(self, recipe: str | Recipe) -> Path:
        """The recipe's module, written to pipelines/NAME.py; an earlier version's (a run with
        --version) to pipelines/versions/vN/NAME.py, so the module a user runs by hand stays the latest."""
        recipe = self.recipe(recipe)
        spec = self.spec(recipe)
        folder = self.workspace.pipelines
        if recipe.version < max(self.recipes.versions(recipe.name) or [recipe.version]):
            folder = folder / "versions" / f"v{recipe.version}"
        if spec.kind == "database":
            from purelink.pipeline.codegen_sql import write_module as write_sql_module

            return write_sql_module(recipe, folder)
        return write_module(recipe, folder, spec)

    def db_path(self, recipe: Recipe) -> Path:
        return self.workspace.db_path(recipe.destination.path)

    def start(self, recipe: str | Recipe, *, executor: str | None = None, sample: int | None = None,
              full_refresh: bool = False, db_path: Path | None = None, interactive: bool | None = False,
              timeout_s: float | None = None, secrets: dict[str, str] | None = None,
              on_build: Callable[[str], None] | None = build_progress) -> Run:
        """Start a run and return its handle at once (events arrive as it goes).

        `secrets` (name -> value) replaces the usual resolution (environment, vault), for a key
        the user just typed in the wizard."""
        recipe = self.recipe(recipe)
        spec = self.spec(recipe)
        module = self.generate(recipe)
        secrets = dict(secrets) if secrets is not None else resolve_credentials(recipe, spec, interactive=interactive)
        if not sample:  # a sample run writes to scratch DuckDB; a store's password or token otherwise
            from purelink.pipeline.codegen_sql import warehouse_credentials

            secrets.update(warehouse_credentials(recipe, interactive=interactive))
        runner, warning = self._runner(recipe, executor, on_build, sample=bool(sample))
        if not isinstance(runner, LocalRunner):
            prestart.discard()  # started by `recipes run` in case the run was local
        args = []
        if sample:
            args += ["--sample", str(sample)]
        if full_refresh:
            args.append("--full-refresh")
        job = Job(module=module, workspace=self.workspace.root, db_path=db_path or self.db_path(recipe),
                  args=args, secrets=secrets, timeout_s=timeout_s, env=runtime_settings(),
                  urls=recipe_urls(recipe, spec, sample=bool(sample)), recipe=recipe.name)
        data_folder(self.workspace, job.db_path)  # made by this user, and only inside the workspace
        handle = runner.start(job)
        return Run(handle, job, warning=warning or handle.warning)

    def _runner(self, recipe: Recipe, executor: str | None, on_build: Callable[[str], None] | None, *,
                sample: bool) -> tuple[Runner, str | None]:
        """The runner for this recipe. A store whose client library is not in the runtime image
        (BigQuery, Iceberg) is written by the local executor, said once in the run's warning and
        once in the event log; asking for a container explicitly then is an error, not a surprise."""
        store = None if sample else self.store(recipe)  # a sample run writes a scratch DuckDB file
        if store is None or store.runs_in_container:
            return choose_runner(executor or recipe.executor, on_build)
        if executor == "docker":
            raise ExecutionError(f"Runs into {store.kind} cannot run in a container: {store.executor_note}",
                                 "Run it with `--executor local` (or without --executor).")
        note = store.executor_note
        EventLog(self.workspace).write({"event": "executor", "executor": "local", "recipe": recipe.name,
                                        "message": note, "at": datetime.now(UTC).isoformat()})
        return LocalRunner(), f"{note} {LocalRunner.warning}"

    def logged(self, on_event: EventCallback | None = None) -> EventCallback:
        """A callback that appends each event to this workspace's log, then passes it on."""
        log = EventLog(self.workspace)

        def seen(event: dict) -> None:
            log.write(event)
            if on_event is not None:
                on_event(event)

        return seen

    def execute(self, recipe: str | Recipe, *, on_event: EventCallback | None = None, **options) -> RunResult:
        """Run to the end; every event goes to the log and to `on_event`."""
        return self.start(recipe, **options).collect(on_event=self.logged(on_event))

    def store(self, recipe: str | Recipe):
        """The store the recipe loads into (its URL read relative to this workspace)."""
        from purelink.storage import recipe_store

        return recipe_store(self.recipe(recipe), root=self.workspace.root)

    def tables(self, recipe: str | Recipe, *, arrow: bool = False) -> dict:
        """Each stream's table, read from the recipe's store (a DuckDB file in one short read-only
        session, never held during a run)."""
        recipe = self.recipe(recipe)
        store = self.store(recipe)
        return {stream: store.table(where, arrow=arrow) for stream, where in self.locations(recipe).items()}

    def locations(self, recipe: str | Recipe) -> dict[str, str]:
        """stream -> the `schema.table` its rows are in, for the streams whose table exists: the one
        the last run loaded (another source's rows may hold the default name), else the recipe's
        `into`, else the stream's name, unless that table is another recipe's (`_purelink.tables`)."""
        recipe = self.recipe(recipe)
        if recipe.destination.kind == "duckdb" and not self.db_path(recipe).exists():
            return {}
        store = self.store(recipe)
        existing = {(r.schema, r.table) for r in store.tables().itertuples()}
        owners, targets = store.owners(), self._targets(recipe)
        named = {stream: where for stream, where in targets.items() if owners.get(where, recipe.name) == recipe.name}
        where = named | store.landed(recipe.name)
        return {stream: ".".join(where[stream]) for stream in targets if stream in where and where[stream] in existing}

    def targets(self, recipe: str | Recipe) -> dict[str, str]:
        """stream -> the `schema.table` its rows are in once loaded: where `locations` finds them,
        else the table the recipe names (its `into`, else the stream's name) for a stream not run yet.

            engine.targets("mystripe")   # {"customers": "stripe.mystripe_customers"}
        """
        recipe = self.recipe(recipe)
        return self.named_targets(recipe) | self.locations(recipe)

    def named_targets(self, recipe: str | Recipe) -> dict[str, str]:
        """stream -> the `schema.table` the recipe names (its `into`, else the stream's name), without
        asking the store where a run put it."""
        return {stream: ".".join(where) for stream, where in self._targets(self.recipe(recipe)).items()}

    def _targets(self, recipe: Recipe) -> dict[str, tuple[str, str]]:
        """stream -> (schema, table) as the recipe names it, before any run says otherwise."""
        spec = self.spec(recipe)
        schema = recipe.destination.schema_name or (spec.name if recipe.destination.kind != "postgres" else None)
        targets = {c.name: c.into or c.name for c in recipe.streams}
        if spec.kind == "database":
            from purelink.pipeline.codegen_sql import destination_tables

            targets = destination_tables(recipe)
            schema = recipe.destination.schema_name or ("raw" if recipe.destination.kind == "postgres" else None)
        if schema is None:
            schema = spec.name
        return {stream: (schema, table) for stream, table in targets.items()}


class Result(Mapping):
    """A finished run: `result["customers"]` is a DataFrame; `.summary` is the finished event."""

    def __init__(self, recipe: Recipe, run: RunResult, tables: dict) -> None:
        self.recipe = recipe
        self.run = run
        self.summary = run.finished or {}
        self._tables = tables

    @property
    def ok(self) -> bool:
        return self.run.ok

    @property
    def status(self) -> str:
        return self.summary.get("status", "failed")

    def __getitem__(self, stream: str):
        if stream not in self._tables:
            raise KeyError(f"{stream!r}: this run loaded {', '.join(self._tables) or 'no tables'}")
        return self._tables[stream]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}: {len(v)} rows" for k, v in self._tables.items())
        return f"<purelink result {self.recipe.name} v{self.recipe.version} {self.status}: {sizes}>"


def run(recipe: str | Recipe, *, workspace: str | os.PathLike | None = None, executor: str | None = None,
        full_refresh: bool = False, arrow: bool = False, on_event: EventCallback | None = None) -> Result:
    """Run a recipe and return its tables. Raises ExecutionError when the run fails."""
    engine = Engine(workspace)
    recipe = engine.recipe(recipe)
    outcome = engine.execute(recipe, executor=executor, full_refresh=full_refresh, on_event=on_event)
    if not outcome.ok:
        done = outcome.finished or {}
        detail = done.get("error") or (outcome.output[-1] if outcome.output else "no output")
        raise ExecutionError(f"The run of {recipe.name} did not succeed: {detail}",
                             done.get("guidance") or "See logs/ for the events of the run.")
    return Result(recipe, outcome, engine.tables(recipe, arrow=arrow))
