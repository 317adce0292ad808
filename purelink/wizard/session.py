"""The pipeline wizard as an engine API: the stages of the flow, with no UI in it.

A `Session` takes one pipeline from a source name to loaded data. The notebook wizard, the
terminal agent (`purelink el-agent`) and tests drive the same methods; each does the work of one
stage and returns plain data (see `purelink.wizard.models`), never prints, never prompts.

    s = Session("~/work")                         # or Session.resume("~/work")
    s.suggest_sources("S")                        # [Suggestion(label="Salesforce (CRM platform)"), ...]
    s.choose_source("stripe")                     # unknown: UnknownSource with .suggestions; other APIs:
    s.ready_recipes(); s.start_from("stripe_payments")   # or answer stages 1-3 from a ready recipe
    s.import_openapi("api.yaml"); s.confirm_import({"name": "acme"})   # guesses shown, then confirmed
    s.streams(); s.choose_streams(["customers"])
    s.requirement_questions(); s.set_requirements(purpose="poc", frequency="once", base_url=...)
    s.key_guidance(); s.set_credential("sk_test_...")   # format + live health check + vault
    s.probe(); s.column_groups("customers"); s.choose_columns("customers", ["id", "email"])
    s.plan().text()
    g = s.generate()                              # recipe saved, module written, pre-flight, notebook cell
    s.test(on_event=print)                        # the sample run's checklist; must pass
    run = s.run(on_event=monitor)                 # returns at once: run.pause() / resume() / stop() / wait()
    s.result(); s.tables()                        # the summary, files, next steps; DataFrames

Stages: source, streams, requirements, credentials, schema, design, generate, test, run, result.
`s.stage` is where the user is: `s.next()` checks the current stage is complete (else
`SessionError` says what is missing) and moves on; `s.back()` goes back, losing nothing, and an
answer changed upstream clears only what depended on it: giving the same answer again (Back, then
Next) clears nothing. An answer a UI holds but cannot commit yet (no stream ticked, a date being
typed) is kept with `s.remember(stage, answers)` and read back with `s.draft_of(stage)`. `s.state` (pydantic) holds every answer
and is saved to `.purelink/session.json` after each action, without any key's value: a key lives
in this process's memory, or encrypted in the vault and referenced by name. A pipeline is done
(`s.state.done`) only once its test run passed and its full run finished.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from purelink.catalog import spec as specs
from purelink.catalog.spec import ConnectorSpec
from purelink.errors import SourceError, plain
from purelink.recipes import Recipe
from purelink.wizard import ready
from purelink.wizard.build import Builder
from purelink.wizard.credentials import Credentials
from purelink.wizard.imports import OpenAPIImport
from purelink.wizard.models import (
    STAGES,
    STORES,
    CredentialStatus,
    Generated,
    KeyHelp,
    Outcome,
    Question,
    RunControl,
    SessionError,
    SessionState,
    StreamInfo,
    TestReport,
    UnknownSource,
    destination_url,
)
from purelink.workspace import Workspace

if TYPE_CHECKING:
    from purelink.discovery.probe import Probe
    from purelink.pipeline.design import Plan

INVALIDATES = {  # what an answer at a stage makes stale
    "source": ("streams", "credential", "schema", "plan", "generate"),
    "streams": ("schema", "plan", "generate"),
    "requirements": ("plan", "generate"),
    "credentials": ("test",),
    "schema": ("plan", "generate"),
}


class Session(OpenAPIImport):
    """One pipeline being built; see the module docstring for the whole flow.

    Stages 1-3 are answered here; stage 4 (the key) is its `credentials` collaborator and stages
    5-10 its `builder`, each given this session and using only what it declares public: `state`,
    `spec`, `request_spec()`, `workspace`, `engine`, `missing()`, `changed()` and `save()`."""

    def __init__(self, workspace: str | os.PathLike | Workspace | None = None, *,
                 state: SessionState | None = None, vault=None) -> None:
        from purelink.engine import Engine

        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace.at(
            Path(workspace).expanduser() if workspace else None)
        self.engine = Engine(self.workspace)
        self.state = state or SessionState()
        self.credentials = Credentials(self, vault)
        self.builder = Builder(self)
        self._proposal = None

    # -- state ------------------------------------------------------------------------------------
    @property
    def stage(self) -> str:
        return self.state.stage

    @property
    def path(self) -> Path:
        return self.workspace.root / ".purelink" / "session.json"

    def save(self, path: str | os.PathLike | None = None) -> Path:
        target = Path(path) if path else self.path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(self.state.model_dump_json(indent=2))
        tmp.replace(target)
        return target

    @classmethod
    def resume(cls, workspace: str | os.PathLike | None = None, *, path: str | os.PathLike | None = None,
               vault=None) -> Session:
        """The session saved in the workspace; a key that was only in memory must be entered again."""
        ws = Workspace.at(Path(workspace).expanduser() if workspace else None)
        file = Path(path) if path else ws.root / ".purelink" / "session.json"
        if not file.is_file():
            raise SessionError(f"No saved session in {file}.", "Start a new one with Session(workspace).")
        state = SessionState.model_validate(json.loads(file.read_text()))
        if not state.credential_saved:
            state.credential_ok = False
        return cls(ws, state=state, vault=vault)

    def changed(self, stage: str) -> None:
        """An answer at `stage` changed: clear what depended on it, save."""
        stale = INVALIDATES.get(stage, ())
        st = self.state
        if "streams" in stale:  # another source: a new pipeline, with a name of its own
            st.streams, st.columns, st.recipe_name, st.drafts = [], {}, None, {}
        if "credential" in stale:
            st.credential, st.credential_ok, st.credential_saved = None, False, False
            self.credentials.secret = self.credentials.password = None
        # A stream unticked keeps its sample and column choices (`probed`, `columns`), for when it
        # is ticked again; only the chosen streams go into the recipe.
        if "plan" in stale:
            self.builder.forget_plan()
        if "generate" in stale:  # the recipe's name is an answer and stays; its next save is a new version
            st.recipe_version = st.module = None
            st.preflight = []
        st.test, st.run, st.done = (None, None, False) if stale else (st.test, st.run, st.done)
        self.save()

    def remember(self, stage: str, answers: dict[str, Any]) -> None:
        """Keep answers given at `stage` that are not complete yet (the user went Back before they
        could be committed); a UI shows them again with `draft_of`. Committing the stage drops them."""
        self.state.drafts[stage] = dict(answers)
        self.save()

    def draft_of(self, stage: str) -> dict[str, Any]:
        return dict(self.state.drafts.get(stage, {}))

    def _committed(self, stage: str) -> None:
        self.state.drafts.pop(stage, None)

    # -- navigation -------------------------------------------------------------------------------
    def missing(self, stage: str | None = None) -> str | None:
        """Why `stage` (default: the current one) is not complete yet, or None."""
        st, stage = self.state, stage or self.stage
        if stage == "source" and not st.source:
            return "Choose a source, or import an OpenAPI document for an API not in the catalog."
        if stage == "streams" and not st.streams:
            return "Choose at least one stream."
        if stage == "credentials" and self.credentials.needs_key() and not st.credential_ok:
            return "Enter the key (or use the one found) so it can be checked against the API."
        if stage == "schema" and any(s not in st.probed for s in st.streams):
            return "Fetch the sample records (probe) of every chosen stream."
        if stage == "generate" and (not st.module or any(c["status"] == "FAIL" for c in st.preflight)):
            return "Generate the pipeline, and fix what the pre-flight checks marked FAIL."
        if stage == "test" and not (st.test and st.test.get("status") == "success"):
            return "Run the test (5 records per stream into a scratch database) until it passes."
        if stage == "run" and not (st.run and st.run.get("status") == "success"):
            return "Run the pipeline to the end."
        if stage == "result":
            return "This is the last stage."
        return None

    def next(self) -> str:
        if self.stage == "design" and self.builder.planned is None:
            self.plan()
        problem = self.missing()
        if problem:
            raise SessionError(f"The {self.stage} stage is not complete.", problem)
        self.state.stage = STAGES[STAGES.index(self.stage) + 1]
        self.save()
        return self.stage

    def back(self) -> str:
        i = STAGES.index(self.stage)
        self.state.stage = STAGES[max(0, i - 1)]
        self.save()
        return self.stage

    def go(self, stage: str) -> str:
        """Jump back to any stage, or forward while every stage in between is complete."""
        if stage not in STAGES:
            raise SessionError(f"There is no stage {stage!r}.", f"Stages: {', '.join(STAGES)}.")
        for before in STAGES[STAGES.index(self.stage):STAGES.index(stage)]:
            problem = self.missing(before)
            if problem:
                raise SessionError(f"Cannot go to {stage}: the {before} stage is not complete.", problem)
        self.state.stage = stage  # type: ignore[assignment]
        self.save()
        return stage

    # -- 1 source ---------------------------------------------------------------------------------
    def _all_specs(self) -> dict[str, ConnectorSpec]:
        return {**specs.workspace_specs(self.workspace.root), **specs.catalog()}

    def suggest_sources(self, text: str, limit: int = 10) -> list:
        """Ranked entries for what was typed (prefix, then typos, then description words)."""
        from purelink.catalog.ranking import rank

        return rank(text, specs=list(self._all_specs().values()), limit=limit)

    def choose_source(self, name: str) -> ConnectorSpec:
        try:
            spec = specs.get_spec(name, self.workspace.root)
        except SourceError:
            near = self.suggest_sources(name, limit=5)
            labels = "; ".join(s.label for s in near)
            hint = ((f"Did you mean: {labels}? " if near else "")
                    + "For another API, import its OpenAPI document (file or URL).")
            raise UnknownSource(f"No source named {name!r}.", hint, near) from None
        if spec.name != self.state.source:
            self.state.source, self.state.base_url, self.state.variables = spec.name, None, {}
            self.changed("source")
        return spec

    def ready_recipes(self) -> list:
        """The library's ready recipes this wizard can start from (`wizard/ready.py`)."""
        return ready.choices(self)

    def start_from(self, name: str, values: dict[str, str] | None = None):
        """Answer stages 1-3 from the ready recipe `name`; `values` fill its `${NAME}`s."""
        return ready.start_from(self, name, values)

    @property
    def spec(self) -> ConnectorSpec:
        if not self.state.source:
            raise SessionError("No source chosen yet.", "Choose a source first.")
        return specs.get_spec(self.state.source, self.workspace.root)

    def request_spec(self) -> ConnectorSpec:
        """The spec with the base URL and `{placeholders}` filled, as requests are sent."""
        return self.spec.resolved(self.state.variables, base_url=self.state.base_url)

    # -- 2 streams --------------------------------------------------------------------------------
    def streams(self) -> list[StreamInfo]:
        return [StreamInfo(s.name, s.description, s.primary_key, s.cursor_field, s.time_filter is not None)
                for s in self.spec.streams]

    def choose_streams(self, names: list[str]) -> list[str]:
        spec = self.spec
        chosen = list(dict.fromkeys(spec.stream(n).name for n in names))
        if not chosen:
            known = ", ".join(s.name for s in spec.streams)
            raise SessionError("No stream chosen.", f"Choose among: {known}.")
        self._committed("streams")
        if chosen != self.state.streams:
            self.state.streams = chosen
            self.changed("streams")
        else:
            self.save()
        return chosen

    # -- 3 requirements ---------------------------------------------------------------------------
    def requirement_questions(self) -> list[Question]:
        st, spec = self.state, self.spec
        qs = [Question("purpose", "Purpose", st.requirements.purpose, ["poc", "production"],
                       "production adds structured logs, a dead-letter table and a schedule"),
              Question("frequency", "How often", st.requirements.frequency, ["once", "hourly", "daily"]),
              Question("history_start", "Load history from (ISO date, empty: everything)",
                       st.requirements.history_start),
              Question("destination", "Destination", st.destination.kind, [o.kind for o in STORES],
                       "; ".join(f"{o.label}: {o.example}" + (f" (key: {o.key})" if o.key else "")
                                 for o in STORES)),
              Question("base_url", "API base URL", st.base_url or spec.base_url,
                       help="replace it for a sandbox, a proxy or a region"),
              Question("keys_ready", "Do you have the key ready", st.keys_ready, ["yes", "help me get keys"])]
        for name, var in spec.variables.items():
            qs.append(Question(f"variables.{name}", var.description, st.variables.get(name, var.default),
                               help=f"e.g. {var.example}" if var.example else ""))
        return qs

    def wrong_start(self, answer: str | None) -> str | None:
        """What is wrong with a history start as typed (None: nothing; empty means everything)."""
        try:
            type(self.state.requirements).model_validate({"history_start": answer or None})
        except ValueError as exc:
            return plain(exc)
        return None

    def set_requirements(self, *, purpose: str | None = None, frequency: str | None = None,
                         history_start: str | None = None, destination: str | None = None,
                         db_path: str | None = None, warehouse_url: str | None = None,
                         executor: str | None = None, keys_ready: bool | None = None,
                         base_url: str | None = None, rate_limit: float | None = None,
                         variables: dict[str, str] | None = None) -> SessionState:
        st = self.state
        before = st.model_dump(include={"requirements", "destination", "executor", "keys_ready", "base_url",
                                        "variables"})
        req = st.requirements.model_dump()
        given = {"purpose": purpose, "frequency": frequency, "rate_limit": rate_limit}
        req.update({k: v for k, v in given.items() if v is not None})
        if history_start is not None:  # "" clears it: everything
            req["history_start"] = history_start or None
        dest = st.destination.model_dump()
        if destination or db_path or warehouse_url:
            dest["url"] = destination_url(destination or st.destination.kind, st.destination, db_path=db_path,
                                          url=warehouse_url)
        try:
            st.requirements = type(st.requirements).model_validate(req)
            st.destination = type(st.destination).model_validate(dest)
            if executor:
                st.executor = SessionState.model_validate({"executor": executor}).executor
        except ValueError as exc:
            raise SessionError(f"A requirement is invalid: {plain(exc)}", "Fix the value and try again.") from None
        if keys_ready is not None:
            st.keys_ready = keys_ready
        where = (st.base_url, dict(st.variables))
        if base_url is not None:  # the spec's own URL is kept as "no override"
            default = self.spec.base_url if st.source else None
            st.base_url = None if base_url.rstrip("/") in ("", default) else base_url.rstrip("/")
        if variables:
            st.variables.update({k: str(v) for k, v in variables.items()})
        if (st.base_url, st.variables) != where:  # another server: the key and the samples are unproven
            st.credential_ok = False
            st.probed = []
        self._committed("requirements")
        if st.model_dump(include=set(before)) != before:
            self.changed("requirements")
        else:  # the same answers again (Back, then Next): the plan, the module and the runs stay
            self.save()
        return st

    # -- 4 credentials: the `credentials` collaborator ---------------------------------------------
    def vault(self):
        return self.credentials.vault()

    def key_guidance(self) -> KeyHelp:
        return self.credentials.guidance()

    def set_credential(self, value, *, save: bool = True, name: str | None = None,
                       password=None) -> CredentialStatus:
        return self.credentials.set(value, save=save, name=name, password=password)

    def use_existing_credential(self) -> CredentialStatus:
        return self.credentials.use_existing()

    # -- 5-10 schema to result: the `builder` collaborator ------------------------------------------
    def probe(self, streams: list[str] | None = None) -> dict:
        return self.builder.probe(streams)

    def probe_of(self, stream: str) -> Probe:
        return self.builder.probe_of(stream)

    def column_groups(self, stream: str) -> dict:
        return self.builder.column_groups(stream)

    def choose_columns(self, stream: str, columns: list[str] | None) -> list[str] | None:
        return self.builder.choose_columns(stream, columns)

    def draft(self) -> Recipe:
        return self.builder.draft()

    def choose_validations(self, stream: str, rules: list) -> None:
        return self.builder.choose_validations(stream, rules)

    def plan(self) -> Plan:
        return self.builder.plan()

    def generate(self, name: str | None = None) -> Generated:
        return self.builder.generate(name)

    def cell(self) -> str:
        return self.builder.cell()

    def recipe(self) -> Recipe:
        return self.builder.recipe()

    def test(self, on_event=None) -> TestReport:
        return self.builder.test(on_event)

    def run(self, on_event=None, *, full_refresh: bool = False) -> RunControl:
        return self.builder.run(on_event, full_refresh=full_refresh)

    def result(self) -> Outcome:
        return self.builder.result()

    def tables(self, *, arrow: bool = False) -> dict:
        return self.builder.tables(arrow=arrow)

    def locations(self) -> dict[str, str]:
        return self.builder.locations()

