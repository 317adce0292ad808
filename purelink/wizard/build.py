"""Stages 5-10 of a `Session`: schema, design, generate, test, run, result.

A mixin, kept apart from the answers of stages 1-4 (`purelink.wizard.session`) so each file
stays readable in one sitting; it uses the session's `state`, `spec`, `workspace`, `engine`
and key, and is never used on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from purelink.recipes import Recipe, SourceChoice, StreamChoice
from purelink.wizard.models import Generated, Outcome, RunControl, SessionError, TestReport


class BuildStages:
    """Sample, design, generate, test and run the pipeline the session's answers describe."""

    # -- 5 schema ---------------------------------------------------------------------------------
    def probe(self, streams: list[str] | None = None) -> dict:
        """Five records of each chosen stream, DuckDB-typed columns, grouped; writes
        samples/NAME_preview.json and schemas/NAME.sql. The default columns are Core+Contact+Business."""
        from purelink.discovery.columns import default_selection, group_columns
        from purelink.discovery.probe import probe_stream, write_schema

        st = self.state
        if self.missing("credentials"):
            raise SessionError("The key has not been checked yet.", self.missing("credentials"))
        spec, out = self._request_spec(), {}
        for name in streams or st.streams:
            probe = probe_stream(spec, name, secret=self._secret_value(), workspace=self.workspace)
            group_columns(probe.columns)
            if name not in st.columns:  # a choice made earlier (even "every field") is kept
                st.columns[name] = default_selection(probe.columns)
            probe.schema_path = write_schema(probe, self.workspace, st.columns[name],
                                             airbyte=st.destination.airbyte_metadata)
            self._probes[name] = out[name] = probe
            if name not in st.probed:
                st.probed.append(name)
        self._changed("schema")
        return out

    def probe_of(self, stream: str):
        """The probe of a stream: from this session, or re-read from its saved sample file."""
        from purelink.discovery.columns import group_columns
        from purelink.discovery.probe import Probe, infer_columns

        if stream not in self._probes:
            path = self.workspace.samples / f"{self.spec.name}_{stream}_preview.json"
            if not path.is_file():
                raise SessionError(f"{stream} has not been sampled yet.", "Run the probe first.")
            pk = self.spec.stream(stream).primary_key
            key = tuple([pk] if isinstance(pk, str) else pk or [])
            schema = self.workspace.schemas / f"{self.spec.name}_{stream}.sql"
            self._probes[stream] = Probe(self.spec.name, stream, json.loads(path.read_text()),
                                         infer_columns(path), key, path, schema)
            group_columns(self._probes[stream].columns)
        return self._probes[stream]

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
        self.state.columns[stream] = columns
        write_schema(probe, self.workspace, columns, airbyte=self.state.destination.airbyte_metadata)
        self._changed("schema")
        return columns

    # -- 6 design ---------------------------------------------------------------------------------
    def draft(self) -> Recipe:
        """The recipe the answers so far describe (not saved)."""
        st = self.state
        if not st.source or not st.streams:
            raise SessionError("A recipe needs a source and streams.", "Choose them first.")
        name = st.recipe_name or "_".join([self.spec.name, *st.streams])[:60].rstrip("_")
        plan_rules = {s.name: s.validations for s in self._plan.streams} if self._plan else {}
        source = {"name": self.spec.name, "base_url": st.base_url,
                  "credential": st.credential if self._needs_key() else None}
        if st.variables:
            source["variables"] = dict(st.variables)
        return Recipe(name=name, source=SourceChoice(**source),
                      streams=[StreamChoice(name=s, columns=st.columns.get(s),
                                            validations=plan_rules.get(s, [])) for s in st.streams],
                      requirements=st.requirements, destination=st.destination, executor=st.executor)

    def plan(self):
        from purelink.pipeline.design import design

        self._plan = None
        st = self.state
        schema = {name: self.probe_of(name).columns for name in st.probed if name in st.streams}
        self._plan = design(self.draft(), self.spec, schema)
        return self._plan

    # -- 7 generate -------------------------------------------------------------------------------
    def generate(self, name: str | None = None) -> Generated:
        """Save the recipe (versioned), write its module, run the pre-flight checks."""
        from purelink.pipeline.preflight import preflight

        if name:
            self.state.recipe_name = name
        if self._plan is None:
            self.plan()
        recipe = self.engine.recipes.save(self.draft())
        module = self.engine.generate(recipe)
        spec = self._request_spec()
        checks = preflight(module, spec=spec, streams=self.state.streams, workspace=self.workspace,
                           secret=self._secret_value(), base_url=spec.base_url)
        st = self.state
        st.recipe_name, st.recipe_version, st.module = recipe.name, recipe.version, str(module)
        st.preflight = [c.as_dict() for c in checks]
        st.test, st.run, st.done = None, None, False
        self.save()
        return Generated(recipe, self.engine.recipes.path(recipe.name, recipe.version), module,
                         module.read_text(), checks, self.cell())

    def cell(self) -> str:
        name = self.state.recipe_name or self.draft().name
        root = self.workspace.root
        where = "" if root == Path.cwd().resolve() else f", workspace={str(root)!r}"
        first = self.state.streams[0] if self.state.streams else "customers"
        return f'import purelink\n\nresult = purelink.run("{name}"{where})\nresult["{first}"]'

    def recipe(self) -> Recipe:
        if not self.state.recipe_name:
            raise SessionError("The pipeline has not been generated yet.", "Generate it first.")
        return self.engine.recipes.load(self.state.recipe_name, self.state.recipe_version)

    # -- 8 test, 9 run ----------------------------------------------------------------------------
    def _start(self, *, sample: int | None = None, db_path: Path | None = None, full_refresh: bool = False):
        recipe = self.recipe()
        secrets = None
        if self._secret is not None and self._needs_key():
            # The key typed in this session goes to the run itself: it may be in memory only, and
            # an environment variable of the same source must not silently take its place.
            from purelink.pipeline.codegen import credential_name

            secrets = {credential_name(recipe, self.spec): self._secret.reveal()}
        return self.engine.start(recipe, sample=sample, db_path=db_path, full_refresh=full_refresh,
                                 secrets=secrets)

    def _logged(self, on_event):
        return self.engine.logged(on_event)

    def test(self, on_event=None) -> TestReport:
        """The sample run: 5 records per stream into a scratch database, as a checklist."""
        if self.missing("generate"):
            raise SessionError("The pipeline is not ready to test.", self.missing("generate"))
        scratch = self.workspace.root / ".purelink" / "scratch" / f"{self.state.recipe_name}_test.duckdb"
        for leftover in (scratch, scratch.with_suffix(".duckdb.wal")):
            leftover.unlink(missing_ok=True)
        handle = self._start(sample=5, db_path=scratch)
        result = handle.collect(on_event=self._logged(on_event))
        finished = result.finished or _failure(result)
        self.state.test = {"status": "success" if result.ok else "failed",
                           "checks": finished.get("checks", []), "records": finished.get("records", 0),
                           "error": finished.get("error")}
        self.state.run, self.state.done = None, False
        self.save()
        return TestReport(result.ok, finished.get("checks", []), finished, handle.warning, result.output)

    def run(self, on_event=None, *, full_refresh: bool = False) -> RunControl:
        """Start the full run and return at once; events are consumed in a background thread."""
        if self.missing("test"):
            raise SessionError("The pipeline has not passed its test run.", self.missing("test"))
        handle = self._start(full_refresh=full_refresh)
        self.state.run, self.state.done = None, False
        return RunControl(handle, self._logged(on_event), self._finished)

    def _finished(self, result) -> None:
        finished = result.finished or _failure(result)
        self.state.run = {k: v for k, v in finished.items() if k not in ("checks",)}
        self.state.done = bool(result.ok and self.state.test and self.state.test.get("status") == "success")
        self.save()

    # -- 10 result --------------------------------------------------------------------------------
    def result(self) -> Outcome:
        from purelink.execution.console import summary_text

        st = self.state
        if not st.run:
            raise SessionError("The pipeline has not run yet.", "Run it first.")
        recipe = self.recipe()
        ws = self.workspace
        names = [f"{self.spec.name}_{s}" for s in st.streams]
        files = {"recipe": str(self.engine.recipes.path(recipe.name, recipe.version)),
                 "module": st.module or "",
                 "database": str(self.engine.db_path(recipe)), "logs": str(ws.logs),
                 "schemas": ", ".join(str(ws.schemas / f"{n}.sql") for n in names),
                 "samples": ", ".join(str(ws.samples / f"{n}_preview.json") for n in names)}
        steps = [f"re-run it: purelink recipes run {recipe.name}",
                 "in a notebook: the cell shown with the result",
                 "look at the data: purelink inspect --tables"]
        if st.requirements.frequency != "once":
            steps.append(f"schedule it: purelink schedule {recipe.name} --{st.requirements.frequency}")
        status = st.run.get("status", "failed")
        return Outcome(st.done, status, summary_text(st.run), st.run, files, self.cell(), steps)

    def tables(self, *, arrow: bool = False) -> dict:
        """Each stream's table as a DataFrame (or Arrow table), read in one short session."""
        return self.engine.tables(self.recipe(), arrow=arrow)


def _failure(result) -> dict:
    """A stand-in `finished` event for a run that died without one."""
    return {"status": "failed", "error": "\n".join(result.output[-5:]) or "no output"}
