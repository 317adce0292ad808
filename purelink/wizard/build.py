"""Stages 5-10 of a `Session`: schema, design, generate, test, run, result.

A collaborator of the session, not a mixin: `Builder(session)` reads the session's declared
answers (`state`, `spec`, `request_spec()`, `workspace`, `engine`, `credentials`), asks it what
is missing (`missing()`), and tells it when an answer changed (`changed()`, `save()`). What it
keeps itself: the probes of this session and the plan.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from purelink.recipes import Recipe, SourceChoice, StreamChoice
from purelink.wizard.models import Generated, Outcome, RunControl, SessionError, TestReport

if TYPE_CHECKING:
    from purelink.discovery.probe import Probe
    from purelink.execution.jobs import Run, RunResult
    from purelink.pipeline.design import Plan
    from purelink.wizard.session import Session


class Builder:
    """Sample, design, generate, test and run the pipeline the session's answers describe."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.probes: dict[str, Probe] = {}
        self.planned: Plan | None = None

    def forget_plan(self) -> None:
        self.planned = None

    # -- 5 schema ---------------------------------------------------------------------------------
    def probe(self, streams: list[str] | None = None) -> dict:
        """Five records of each chosen stream, DuckDB-typed columns, grouped; writes
        samples/NAME_preview.json and schemas/NAME.sql. The default columns are Core+Contact+Business."""
        from purelink.discovery.columns import default_selection, group_columns
        from purelink.discovery.probe import probe_stream, write_schema

        st = self.session.state
        if self.session.missing("credentials"):
            raise SessionError("The key has not been checked yet.", self.session.missing("credentials"))
        spec, out = self.session.request_spec(), {}
        for name in streams or st.streams:
            probe = probe_stream(spec, name, secret=self.session.credentials.value(), workspace=self.session.workspace)
            group_columns(probe.columns)
            if name not in st.columns:  # a choice made earlier (even "every field") is kept
                st.columns[name] = default_selection(probe.columns)
            probe.schema_path = write_schema(probe, self.session.workspace, st.columns[name],
                                             airbyte=st.destination.airbyte_metadata)
            self.probes[name] = out[name] = probe
            if name not in st.probed:
                st.probed.append(name)
        self.session.changed("schema")
        return out

    def probe_of(self, stream: str) -> Probe:
        """The probe of a stream: from this session, or re-read from its saved sample file."""
        from purelink.discovery.columns import group_columns
        from purelink.discovery.probe import Probe, infer_columns

        if stream not in self.probes:
            path = self.session.workspace.samples / f"{self.session.spec.name}_{stream}_preview.json"
            if not path.is_file():
                raise SessionError(f"{stream} has not been sampled yet.", "Run the probe first.")
            spec_stream = self.session.spec.stream(stream)
            pk = spec_stream.primary_key
            key = tuple([pk] if isinstance(pk, str) else pk or [])
            schema = self.session.workspace.schemas / f"{self.session.spec.name}_{stream}.sql"
            self.probes[stream] = Probe(self.session.spec.name, stream, json.loads(path.read_text()),
                                         infer_columns(path, spec_stream.formats), key, path, schema,
                                         formats=dict(spec_stream.formats))
            group_columns(self.probes[stream].columns)
        return self.probes[stream]

    def column_groups(self, stream: str) -> dict:
        from purelink.discovery.columns import group_columns

        return group_columns(self.probe_of(stream).columns)

    def choose_columns(self, stream: str, columns: list[str] | None) -> list[str] | None:
        """The fields to load (dotted paths for nested ones); None loads every field as is."""
        from purelink.discovery.probe import write_schema

        probe = self.probe_of(stream)
        if columns is not None:
            known = {c.path for c in probe.columns}
            unknown = [c for c in columns if c not in known]
            if unknown:
                raise SessionError(f"{stream} has no field {', '.join(unknown)} in the sample.",
                                   f"Fields: {', '.join(sorted(known))[:400]}.")
            columns = list(dict.fromkeys(columns))
        st = self.session.state
        st.drafts.pop("schema", None)
        if stream in st.columns and st.columns[stream] == columns:
            self.session.save()  # the same choice again (Back, then Next): the plan and the runs stay
            return columns
        st.columns[stream] = columns
        write_schema(probe, self.session.workspace, columns, airbyte=st.destination.airbyte_metadata)
        self.session.changed("schema")
        return columns

    # -- 6 design ---------------------------------------------------------------------------------
    def draft(self) -> Recipe:
        """The recipe the answers so far describe (not saved)."""
        st = self.session.state
        if not st.source or not st.streams:
            raise SessionError("A recipe needs a source and streams.", "Choose them first.")
        name = st.recipe_name or "_".join([self.session.spec.name, *st.streams])[:60].rstrip("_")
        plan_rules = {s.name: s.validations for s in self.planned.streams} if self.planned else {}
        source = {"name": self.session.spec.name, "base_url": st.base_url,
                  "credential": st.credential if self.session.credentials.needs_key() else None}
        if st.variables:
            source["variables"] = dict(st.variables)
        return Recipe(name=name, source=SourceChoice(**source),
                      streams=[StreamChoice(name=s, columns=st.columns.get(s),
                                            validations=plan_rules.get(s, st.validations.get(s, [])))
                               for s in st.streams],
                      requirements=st.requirements, destination=st.destination, executor=st.executor)

    def choose_validations(self, stream: str, rules: list) -> None:
        """The checks the user ticked for a stream (the plan's `suggested` ones, or their own).
        A format check sends failing rows to dead letters, so none is applied until chosen."""
        self.session.state.validations[stream] = list(rules)
        self.planned = None
        self.session.save()

    def plan(self) -> Plan:
        from purelink.pipeline.design import design

        self.planned = None
        st = self.session.state
        schema = {name: self.probe_of(name).columns for name in st.probed if name in st.streams}
        self.planned = design(self.draft(), self.session.spec, schema)
        return self.planned

    # -- 7 generate -------------------------------------------------------------------------------
    def generate(self, name: str | None = None) -> Generated:
        """Save the recipe (versioned), write its module, run the pre-flight checks."""
        from purelink.pipeline.preflight import preflight

        if name:
            self.session.state.recipe_name = name
        if self.planned is None:
            self.plan()
        recipe = self.session.engine.recipes.save(self.draft())
        module = self.session.engine.generate(recipe)
        spec = self.session.request_spec()
        checks = preflight(module, spec=spec, streams=self.session.state.streams, workspace=self.session.workspace,
                           secret=self.session.credentials.value(), base_url=spec.base_url)
        st = self.session.state
        st.recipe_name, st.recipe_version, st.module = recipe.name, recipe.version, str(module)
        st.drafts.pop("generate", None)  # the name typed is now the recipe's
        st.preflight = [c.as_dict() for c in checks]
        st.test, st.run, st.done = None, None, False
        self.session.save()
        return Generated(recipe, self.session.engine.recipes.path(recipe.name, recipe.version), module,
                         module.read_text(), checks, self.cell())

    def cell(self) -> str:
        name = self.session.state.recipe_name or self.draft().name
        root = self.session.workspace.root
        where = "" if root == Path.cwd().resolve() else f", workspace={str(root)!r}"
        first = self.session.state.streams[0] if self.session.state.streams else "customers"
        return f'import purelink\n\nresult = purelink.run("{name}"{where})\nresult["{first}"]'

    def recipe(self) -> Recipe:
        if not self.session.state.recipe_name:
            raise SessionError("The pipeline has not been generated yet.", "Generate it first.")
        return self.session.engine.recipes.load(self.session.state.recipe_name, self.session.state.recipe_version)

    # -- 8 test, 9 run ----------------------------------------------------------------------------
    def _start(self, *, sample: int | None = None, db_path: Path | None = None,
               full_refresh: bool = False) -> Run:
        recipe = self.recipe()
        secrets = None
        typed = self.session.credentials.secret
        if typed is not None and self.session.credentials.needs_key():
            # The key typed in this session goes to the run itself: it may be in memory only, and
            # an environment variable of the same source must not silently take its place.
            from purelink.pipeline.codegen import credential_name

            secrets = {credential_name(recipe, self.session.spec): typed.reveal()}
            second = self.session.credentials.password  # Basic's own password (Twilio's auth token)
            if second is not None and self.session.spec.auth.password_env:
                secrets[self.session.spec.auth.password_env] = second.reveal()
        return self.session.engine.start(recipe, sample=sample, db_path=db_path, full_refresh=full_refresh,
                                 secrets=secrets)

    def _logged(self, on_event):
        return self.session.engine.logged(on_event)

    def test(self, on_event=None) -> TestReport:
        """The sample run: 5 records per stream into a scratch database, as a checklist."""
        if self.session.missing("generate"):
            raise SessionError("The pipeline is not ready to test.", self.session.missing("generate"))
        scratch = self.session.workspace.root / ".purelink" / "scratch" / f"{self.session.state.recipe_name}_test.duckdb"
        for leftover in (scratch, scratch.with_suffix(".duckdb.wal")):
            leftover.unlink(missing_ok=True)
        handle = self._start(sample=5, db_path=scratch)
        result = handle.collect(on_event=self._logged(on_event))
        finished = result.finished or _failure(result)
        self.session.state.test = {"status": "success" if result.ok else "failed",
                           "checks": finished.get("checks", []), "records": finished.get("records", 0),
                           "error": finished.get("error")}
        self.session.state.run, self.session.state.done = None, False
        self.session.save()
        return TestReport(result.ok, finished.get("checks", []), finished, handle.warning, result.output)

    def run(self, on_event=None, *, full_refresh: bool = False) -> RunControl:
        """Start the full run and return at once; events are consumed in a background thread."""
        if self.session.missing("test"):
            raise SessionError("The pipeline has not passed its test run.", self.session.missing("test"))
        handle = self._start(full_refresh=full_refresh)
        self.session.state.run, self.session.state.done = None, False
        return RunControl(handle, self._logged(on_event), self._finished)

    def _finished(self, result: RunResult) -> None:
        finished = result.finished or _failure(result)
        self.session.state.run = {k: v for k, v in finished.items() if k not in ("checks",)}
        self.session.state.done = bool(result.ok and self.session.state.test and self.session.state.test.get("status") == "success")
        self.session.save()

    # -- 10 result --------------------------------------------------------------------------------
    def result(self) -> Outcome:
        from purelink.execution.console import summary_text

        st = self.session.state
        if not st.run:
            raise SessionError("The pipeline has not run yet.", "Run it first.")
        recipe = self.recipe()
        ws = self.session.workspace
        names = [f"{self.session.spec.name}_{s}" for s in st.streams]
        files = {"recipe": str(self.session.engine.recipes.path(recipe.name, recipe.version)),
                 "module": st.module or "",
                 "database": str(self.session.engine.db_path(recipe)), "logs": str(ws.logs),
                 "schemas": ", ".join(str(ws.schemas / f"{n}.sql") for n in names),
                 "samples": ", ".join(str(ws.samples / f"{n}_preview.json") for n in names)}
        # Each step works when typed where the wizard was started: the workspace named when it is
        # not that folder, and a key typed for this session only is stored first.
        where = "" if ws.root == Path.cwd().resolve() else f" --workspace {shlex.quote(str(ws.root))}"
        steps = [f"re-run it: purelink recipes run {recipe.name}{where}",
                 "in a notebook: the cell shown with the result",
                 f"look at the data: purelink inspect --tables{where}"]
        if st.credential and not st.credential_saved:
            env = self.spec.auth.env
            unless = f", unless {env} holds it when you re-run" if env else ""
            steps.insert(0, f"store the key first (it was kept for this session only{unless}): "
                            f"purelink secrets set {shlex.quote(st.credential)}")
        if st.requirements.frequency != "once":
            steps.append(f"schedule it: purelink schedule {recipe.name} --{st.requirements.frequency}")
        steps.append(f"share it with the team: purelink recipes share {recipe.name}{where}")
        if st.requirements.frequency != "once":
            steps.append(f"deploy it: purelink deploy {recipe.name}{where} --to airflow (or --to kubernetes)")
        status = st.run.get("status", "failed")
        return Outcome(st.done, status, summary_text(st.run), st.run, files, self.cell(), steps)

    def tables(self, *, arrow: bool = False) -> dict:
        """Each stream's table as a DataFrame (or Arrow table), read in one short session."""
        return self.session.engine.tables(self.recipe(), arrow=arrow)

    def locations(self) -> dict[str, str]:
        """stream -> the `schema.table` its rows are in (see `Engine.locations`)."""
        return self.session.engine.locations(self.recipe())


def _failure(result: RunResult) -> dict:
    """A stand-in `finished` event for a run that died without one."""
    return {"status": "failed", "error": result.failure or "\n".join(result.output[-5:]) or "no output"}
