"""`purelink el-agent`: the pipeline wizard in a terminal, driving `purelink.wizard.Session`.

    purelink el-agent [--source stripe] [--base-url URL] [--openapi FILE_OR_URL] [--executor local]

The source prompt completes from the catalog as you type (prompt_toolkit; readline when that is
missing; plain lines when stdin is not a terminal, so answers can be piped in). At any question,
`back` returns to the previous stage and `quit` stops; the session is saved after every step and
`purelink el-agent --resume` continues it. Keys are typed hidden and never echoed.
"""

from __future__ import annotations

import argparse
from typing import Any

from purelink.cli import add_executor
from purelink.cli.agent_source import SourceStage
from purelink.cli.terminal import Back, Quit, Terminal
from purelink.errors import PurelinkError, RuntimeFailure

MAX_SHOWN = 12  # columns listed per group before "... and N more"
PREVIEW_FIRST = ("id", "email", "name", "created", "amount", "currency", "status", "type")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help="start with this source (catalog name or title)")
    parser.add_argument("--openapi", metavar="FILE_OR_URL", help="start by importing an OpenAPI 3 document")
    parser.add_argument("--base-url", help="the API's base URL (a sandbox, a proxy, a region)")
    add_executor(parser, of="auto")
    parser.add_argument("--resume", action="store_true", help="continue the session saved in the workspace")


class Agent(SourceStage):
    """Walks a session through its stages, one question at a time (the first, choosing the
    source, in `agent_source`)."""

    def __init__(self, session, term: Terminal, *, source: str | None = None, openapi: str | None = None,
                 base_url: str | None = None) -> None:
        self.s, self.t = session, term
        self.source, self.openapi, self.base_url = source, openapi, base_url

    def run(self) -> int:
        steps = {name: getattr(self, f"stage_{name}") for name in
                 ("source", "streams", "requirements", "credentials", "schema", "design", "generate", "test",
                  "run", "result")}
        self.t.say("purelink el-agent: from an API to DuckDB. Type `back` to go back, `quit` to stop.")
        while True:
            stage = self.s.stage
            try:
                steps[stage]()
                if stage == "result":
                    return 0 if self.s.state.done else 1
                self.s.next()
            except Back:
                self.s.back()
            except Quit:
                self.t.say(f"\nStopped at the {stage} stage; `purelink el-agent --resume` continues.")
                return 1
            except RuntimeFailure as exc:
                self.t.say(f"  error: {exc.message}" + (f"\n  {exc.guidance}" if exc.guidance else ""))

    # -- stages -----------------------------------------------------------------------------------
    def stage_streams(self) -> None:
        self.t.say(f"\n[2/10] Streams of {self.s.spec.title}")
        infos = self.s.streams()
        chosen = set(self.s.state.streams)
        for i, info in enumerate(infos, 1):
            mark = "x" if info.name in chosen else " "
            how = f"incremental on {info.cursor}" if info.incremental else "full reload"
            self.t.say(f"  {i:>2} [{mark}] {info.name:<16} {info.description}  ({how})")
        default = ",".join(str(i) for i, info in enumerate(infos, 1) if info.name in chosen) or "1"
        answer = self.t.ask("Streams to load (numbers or names, comma-separated)", default)
        names = [infos[int(a) - 1].name if a.strip().isdigit() and 0 < int(a) <= len(infos) else a.strip()
                 for a in answer.split(",") if a.strip()]
        self.s.choose_streams(names)

    def stage_requirements(self) -> None:
        self.t.say("\n[3/10] Requirements")
        values: dict[str, Any] = {"variables": {}}
        for q in self.s.requirement_questions():
            if q.key == "base_url" and self.base_url:
                values["base_url"] = self.base_url  # --base-url: kept until the answers are accepted
                self.t.say(f"API base URL: {values['base_url']}")
                continue
            default = q.default
            if q.key == "keys_ready":
                default = "yes" if q.default else "help me get keys"
            if q.key == "history_start" and not default:
                default = None
            answer = self.t.ask(q.prompt, default, q.choices)
            while q.key == "history_start" and (wrong := self.s.wrong_start(answer)):
                self.t.say(f"  {wrong}")
                answer = self.t.ask(q.prompt, default, q.choices)
            if q.key.startswith("variables."):
                values["variables"][q.key.split(".", 1)[1]] = answer
            elif q.key == "keys_ready":
                values["keys_ready"] = answer == "yes"
            elif q.key == "destination":
                values["destination"] = answer
                if answer != "duckdb":
                    from purelink.wizard.models import store_option

                    option = store_option(answer)
                    self.t.say(f"{option.label}: key = {option.key}. {option.guidance}")
                    values["warehouse_url"] = self.t.ask(f"{option.label} URL (no secret in it), e.g. {option.example}")
            else:
                values[q.key] = answer
        self.s.set_requirements(**values)
        self.base_url = None

    def stage_credentials(self) -> None:
        self.t.say("\n[4/10] Credentials")
        help_ = self.s.key_guidance()
        if not help_.needs_key:
            self.t.say(f"  {help_.title} needs no key.")
            return
        if help_.found and self.t.yes(f"Use the key found ({help_.found})?"):
            status = self.s.use_existing_credential()
            self.t.say(f"  ✓ {status.health}")
            return
        if self.s.state.keys_ready:
            where = help_.dashboard_url or "see the provider"
            self.t.say(f"  {help_.key_hint or ''} (dashboard: {where})".strip())
        else:
            self.t.say(f"  Where: {help_.dashboard_url or 'the provider dashboard'}")
            for i, step in enumerate(help_.steps, 1):
                self.t.say(f"  {i}. {step}")
            for extra in (help_.key_hint, help_.test_vs_live):
                if extra:
                    self.t.say(f"  {extra}")
        save = self.t.yes("Save the key encrypted in the vault?")
        for _ in range(3):
            key = self.t.secret(f"{help_.title} key (input hidden): ")
            if key.strip().lower() == "back":
                raise Back
            # Basic with a password of its own (Twilio: account SID, then auth token): asked as well
            password = self.t.secret(f"{help_.password_env} (input hidden): ") if help_.password_env else None
            try:
                status = self.s.set_credential(key, save=save, password=password)
            except PurelinkError as exc:
                self.t.say(f"  ✗ {exc.message}" + (f"\n    {exc.guidance}" if exc.guidance else ""))
                continue
            kept = "validated and encrypted in the vault." if status.saved else "kept for this session only."
            self.t.say(f"  ✓ {status.health} Key {status.masked} {kept}")
            return
        raise Quit

    def stage_schema(self) -> None:
        from purelink.discovery.columns import GROUPS, select_groups

        self.t.say("\n[5/10] Schema (5 sampled records per stream)")
        for name, probe in self.s.probe().items():
            chosen = self.s.state.columns.get(name) or []
            self.t.say(f"\n  {name}: {len(probe.records)} records sampled -> {probe.preview_path}")
            self._preview(probe.records, _preview_columns(chosen))
            groups = self.s.column_groups(name)
            for group in GROUPS:
                cols = groups[group]
                if not cols:
                    continue
                self.t.say(f"  {group} ({len(cols)})")
                for c in cols[:MAX_SHOWN]:
                    null = "null" if c.nullable else "not null"
                    eg = f"e.g. {c.examples[0]}" if c.examples else ""
                    flag = f"  ! {c.note}" if c.heavy else ""
                    self.t.say(f"    [{'x' if c.path in chosen else ' '}] {c.path:<28} {_short(c.type):<16} "
                               f"{null:<9} {eg[:40]}{flag}")
                if len(cols) > MAX_SHOWN:
                    self.t.say(f"    ... and {len(cols) - MAX_SHOWN} more")
            answer = self.t.ask(f"Columns of {name}: Enter for Core+Contact+Business ({len(chosen)}), "
                                "or group names, or field paths, or `all`", "")
            if answer.lower() == "all":
                self.s.choose_columns(name, None)
            elif answer:
                parts = [a.strip() for a in answer.split(",") if a.strip()]
                if all(p.lower() in (g.lower() for g in GROUPS) for p in parts):
                    self.s.choose_columns(name, select_groups(probe.columns, parts))
                else:
                    self.s.choose_columns(name, parts)
            self.t.say(f"  schema: {self.s.probe_of(name).schema_path}")

    def _preview(self, records: list[dict], columns: list[str]) -> None:
        if not columns:
            return
        width = 22
        self.t.say("  " + " | ".join(f"{c[:width]:<{width}}" for c in columns))
        for r in records:
            self.t.say("  " + " | ".join(f"{str(r.get(c, ''))[:width]:<{width}}" for c in columns))

    def stage_design(self) -> None:
        self.t.say("\n[6/10] Design")
        self.t.say(self.s.plan().text())
        if not self.t.yes("Continue with this plan?"):
            raise Back

    def stage_generate(self) -> None:
        self.t.say("\n[7/10] Generate")
        g = self.s.generate()
        self.t.say(f"  recipe {g.recipe_path}\n  module {g.module_path}\n")
        self.t.say("\n".join(f"    {line}" for line in g.code.splitlines()))
        self.t.say("\n  Pre-flight checks:")
        for c in g.checks:
            self.t.say(f"    [{c.status}] {c.name}: {c.detail}")
        self.t.say("\n  Notebook cell:\n" + "\n".join(f"    {line}" for line in g.cell.splitlines()))

    def stage_test(self) -> None:
        self.t.say("\n[8/10] Test run (5 records per stream into a scratch database)")
        while True:
            report = self.s.test()
            if report.warning:
                self.t.say(f"  warning: {report.warning}")
            for c in report.checks:
                self.t.say(f"    [{c['status']}] {c['name']}: {c['detail']}")
            if report.ok:
                return
            self.t.say(f"  The test failed: {report.finished.get('error') or 'see the checks above'}")
            self.t.ask("Enter to test again, `back` to change something")

    def stage_run(self) -> None:
        from purelink.execution.console import ConsoleMonitor

        self.t.say("\n[9/10] Run")
        if not self.t.yes("Run the full pipeline now?"):
            raise Back
        while True:
            monitor = ConsoleMonitor(out=self.t.out, every_s=2.0)
            control = self.s.run(on_event=monitor)
            monitor.attach(control, resume_hint=f"purelink recipes run {self.s.state.recipe_name}")
            if control.warning:
                self.t.say(f"  warning: {control.warning}")
            try:
                while control.wait(0.5) is None:
                    pass
            except KeyboardInterrupt:
                self.t.say("\n  stopping: what it committed is kept...")
                control.stop()
                control.wait()
            finally:
                monitor.close()  # keys off, the terminal as it was
            if control.result.ok:
                return
            finished = self.s.state.run or {}
            if finished.get("status") == "stopped":  # Ctrl-C or 'q': asked for, not a failure
                self.t.say(f"  Stopped at your request, not by an error: {finished.get('committed', 0):,} records "
                           "committed are kept, and the next run goes on from where this one stopped.")
                self.t.ask("Enter to run again (it resumes), `back` to change something")
                continue
            self.t.say(f"  The run did not succeed: {finished.get('error') or 'see the summary above'}")
            self.t.ask("Enter to run again, `back` to change something")

    def stage_result(self) -> None:
        self.t.say("\n[10/10] Result")
        outcome = self.s.result()
        self.t.say(outcome.summary)
        for what, where in outcome.files.items():
            self.t.say(f"  {what:<9} {where}")
        try:
            where = self.s.locations()
            for stream, frame in self.s.tables().items():
                self.t.say(f"  table {where.get(stream, stream)}: {len(frame):,} rows")
        except RuntimeFailure as exc:
            self.t.say(f"  (tables not readable now: {exc.message})")
        self.t.say("\n  Notebook cell:\n" + "\n".join(f"    {line}" for line in outcome.cell.splitlines()))
        self.t.say("  Next: " + "; ".join(outcome.next_steps))
        self.t.say("  Pipeline done." if outcome.done else "  The pipeline is not done yet.")


def _preview_columns(chosen: list[str], width: int = 5) -> list[str]:
    """The fields that say most about a record first: its id, who, when, how much, which state."""
    flat = [c for c in chosen if "." not in c]
    first = [c for c in PREVIEW_FIRST if c in flat]
    return [*first, *(c for c in flat if c not in first)][:width]


def _short(type_name: str) -> str:
    if type_name.startswith("STRUCT"):
        return "STRUCT" + ("[]" if type_name.endswith("]") else "")
    return type_name if len(type_name) <= 16 else type_name[:13] + "..."


def run(args: argparse.Namespace) -> int:
    from purelink.wizard import Session

    session = Session.resume(args.workspace) if args.resume else Session(args.workspace)
    if args.executor:
        session.set_requirements(executor=args.executor)
    agent = Agent(session, Terminal(), source=args.source, openapi=args.openapi, base_url=args.base_url)
    return agent.run()
