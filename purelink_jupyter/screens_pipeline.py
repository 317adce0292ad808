"""The wizard's later screens: design, generate, test, run, result."""

from __future__ import annotations

import ipywidgets as w

from purelink.errors import PurelinkError
from purelink_jupyter.insert import copy_box
from purelink_jupyter.monitor import LiveMonitor
from purelink_jupyter.render import esc, frame_html, plan_html, table_html
from purelink_jupyter.screens import Screen

MARKS = {"PASS": ("✓", "#2e7d32"), "WARN": ("!", "#ef6c00"), "FAIL": ("✗", "#c62828")}


def checklist_html(checks: list[dict], cls: str = "purelink-checklist") -> str:
    """PASS / WARN / FAIL lines, as the test run and the pre-flight checks report them."""
    rows = []
    for c in checks:
        mark, colour = MARKS.get(c["status"], ("?", "#666"))
        rows.append([f"<b style='color:{colour}'>{mark} {esc(c['status'])}</b>", esc(c["name"]), esc(c["detail"])])
    counts = {k: sum(c["status"] == k for c in checks) for k in MARKS}
    summary = f"{counts['PASS']} passed, {counts['WARN']} warnings, {counts['FAIL']} failed"
    return table_html(["", "check", "detail"], rows, cls) + f"<div style='color:#666'>{summary}</div>"


def step_html(step: str) -> str:
    """'re-run it: purelink recipes run x' with the command as code, so it reads as one to type."""
    what, sep, command = step.partition(": ")
    if sep and command.startswith(("purelink ", "python ")):
        return f"{esc(what)}: <code>{esc(command)}</code>"
    return esc(step)


class DesignScreen(Screen):
    """6: the plan: incremental strategy, rate limit, pagination, retries, validations, storage."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        try:
            plan = self.session.plan()
        except PurelinkError as exc:
            wizard.fail(exc)
            return
        self.plan_html = w.HTML(plan_html(plan.text()))
        self.widget.children = [self.plan_html, *self._check_boxes(plan)]

    def _check_boxes(self, plan) -> list:
        """One box per suggested check, unticked: it would send failing rows to dead letters, so
        it is the user's choice. Ticking one re-plans."""
        chosen = self.session.state.validations
        boxes = []
        for stream in plan.streams:
            for rule in [*[v for v in stream.validations if v in chosen.get(stream.name, [])], *stream.suggested]:
                box = w.Checkbox(value=rule in chosen.get(stream.name, []), indent=False,
                                 description=f"{stream.name}: check {rule.field} is a valid {rule.kind} "
                                             "(failing rows go to dead letters)",
                                 layout=w.Layout(width="auto"))
                box.add_class("purelink-suggested-check")
                box.observe(lambda change, s=stream.name, r=rule: self._tick(s, r, change["new"]), names="value")
                boxes.append(box)
        return boxes

    def _tick(self, stream: str, rule, on: bool) -> None:
        rules = [v for v in self.session.state.validations.get(stream, []) if v != rule]
        self.session.choose_validations(stream, [*rules, rule] if on else rules)
        self.plan_html.value = plan_html(self.session.plan().text())


class GenerateScreen(Screen):
    """7: generate the recipe and module, the pre-flight checklist, and the pipeline cell below."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        st = self.session.state
        name = self.session.draft_of("generate").get("name") or st.recipe_name or self.session.draft().name
        self.name = w.Text(value=name, description="Recipe name", style={"description_width": "initial"},
                           layout=w.Layout(width="420px"))
        self.name.add_class("purelink-recipe-name")
        button = wizard.action(w.Button(description="Generate", icon="cogs", button_style="primary"))
        button.add_class("purelink-generate")
        button.on_click(lambda _: self._generate())
        self.result = w.VBox()
        self.widget.children = [w.HBox([self.name, button]), self.result]
        if st.module and st.recipe_name:
            self.result.children = [w.HTML(f"Generated earlier: {esc(st.module)}"
                                           + checklist_html(st.preflight))]

    def answers(self) -> dict:
        return {"name": self.name.value.strip()}

    def keep(self) -> None:
        """A name typed but not generated yet is kept for when the user comes back."""
        if self.answers()["name"] != (self.session.state.recipe_name or ""):
            self.session.remember("generate", self.answers())

    def _generate(self) -> None:
        name = self.name.value.strip() or None
        self.wizard.work("Generating the pipeline and running the pre-flight checks...",
                         lambda: self.session.generate(name), self._show)

    def _show(self, generated) -> None:
        checks = [c.as_dict() if hasattr(c, "as_dict") else dict(c) for c in generated.checks]
        files = (f"<div>recipe <code>{esc(generated.recipe_path)}</code></div>"
                 f"<div>module <code>{esc(generated.module_path)}</code></div>")
        code = w.Accordion(children=[w.HTML(copy_box(generated.code))])  # highlighted, with a Copy button
        code.set_title(0, f"The module ({len(generated.code.splitlines())} lines)")
        code.selected_index = 0
        parts = [w.HTML(files), w.HTML("<b>Pre-flight checks</b>" + checklist_html(checks, "purelink-preflight")),
                 code]
        wiz = self.wizard
        if wiz.inserter is not None and wiz.inserted != generated.cell and wiz.inserter.insert_below(generated.cell):
            wiz.inserted = generated.cell
        if wiz.inserted == generated.cell:
            parts.append(w.HTML("<div class='purelink-inserted'>The cell that re-runs this pipeline was inserted "
                                "below the wizard.</div>"))
        else:
            parts.append(w.HTML("<b>The cell that re-runs this pipeline</b> (copy it into a new cell):"
                                + copy_box(generated.cell)))
        self.result.children = parts
        if generated.ok:
            wiz.say("Generated. Next: a test run on 5 records per stream.", "ok")
        else:
            wiz.say("A pre-flight check failed: see the list, change the answers (Back), and generate again.",
                    "error")


class TestScreen(Screen):
    """8: the sample run as a checklist (connectivity, permissions, rate limits, schema, writes)."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        button = wizard.action(w.Button(description="Run the test", icon="flask", button_style="primary"))
        button.add_class("purelink-test")
        button.on_click(lambda _: self._test())
        self.area = w.VBox()
        self.checklist = w.HTML()
        intro = w.HTML(f"5 records of each stream go into a scratch database, in the same way the full run "
                       f"will work (executor: {esc(self.session.state.executor)}).")
        self.widget.children = [intro, button, self.area, self.checklist]
        test = self.session.state.test
        if test:
            self.checklist.value = checklist_html(test.get("checks", []))

    def _test(self) -> None:
        if self.wizard._refused():  # a click that arrived before the button was disabled
            return
        monitor = LiveMonitor("test run: 5 records per stream")
        self.area.children = [monitor.widget]
        self.checklist.value = ""
        self.wizard.work("Test run...", lambda: self.session.test(on_event=monitor),
                         lambda report: self._report(report, monitor))

    def _report(self, report, monitor) -> None:
        if report.warning:
            monitor.note(report.warning)
        monitor.finish(report.finished)
        monitor.summary.value = ""  # the checklist below says it better
        self.checklist.value = checklist_html(report.checks)
        if report.ok:
            self.wizard.say("The test passed. Next: the full run.", "ok")
            return
        error = report.finished.get("error") or "see the checklist"
        self.wizard.say(f"The test failed: {error}. Fix it (Back), or ask for an explanation, and test again.",
                        "error")
        from purelink_jupyter.assist import explain_box

        self.area.children = [*self.area.children, explain_box(self.wizard, report.finished, self._changed)]

    def _changed(self, recipe) -> None:
        self.wizard.say(f"Saved {recipe.name} v{recipe.version} with the change. Run the test again.", "ok")
        self.wizard.show()


class RunScreen(Screen):
    """9: the full run with the live monitor; Stop, Pause and Debug answer while it goes."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        self.full_refresh = w.Checkbox(value=False, description="Full refresh (ignore the saved state)", indent=False)
        button = wizard.action(w.Button(description="Run the pipeline", icon="play", button_style="primary"))
        button.add_class("purelink-run")
        button.on_click(lambda _: self._run())
        self.area = w.VBox()
        self.widget.children = [w.HBox([button, self.full_refresh]), self.area]
        if self.session.state.run:
            from purelink_jupyter.monitor import summary_html

            self.area.children = [w.HTML(summary_html(self.session.state.run))]

    def _run(self) -> None:
        # A second click must not replace the monitor of the run under way (it froze at "starting
        # 0%" while the first run went on): refused before anything is drawn.
        if self.wizard._refused():
            return
        recipe = self.session.recipe()
        monitor = LiveMonitor(f"{recipe.name} v{recipe.version}")
        self.area.children = [monitor.widget]
        full_refresh = self.full_refresh.value

        def go():
            control = self.session.run(on_event=monitor, full_refresh=full_refresh)
            if control.warning:
                monitor.note(control.warning)
            monitor.attach(control)
            return control.wait()

        self.wizard.work("Running...", go, lambda result: self._done(result, monitor))

    def _done(self, result, monitor) -> None:
        finished = result.finished or {"status": "failed", "error": "\n".join(result.output[-5:]) or "no output"}
        monitor.finish(finished)
        if self.session.state.done:
            self.wizard.say("Loaded. Next: the result and the DataFrames.", "ok")
        elif finished.get("status") == "stopped":
            self.wizard.say("Stopped. What was loaded stays; run again to resume.", "warn")
        else:
            self.wizard.say(f"The run failed: {finished.get('error') or 'see the summary'}.", "error")


class ResultScreen(Screen):
    """10: the completion summary, the files, next steps, and the loaded tables as DataFrames."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        outcome = self.session.result()
        files = table_html(["", "file"], [[esc(k), f"<code>{esc(v)}</code>"] for k, v in outcome.files.items()])
        steps = "".join(f"<li>{step_html(s)}</li>" for s in outcome.next_steps)
        self.frames = w.VBox()
        self.widget.children = [
            w.HTML(f"<pre class='purelink-summary' style='white-space:pre-wrap'>{esc(outcome.summary)}</pre>"),
            w.HTML(files),
            w.HTML(f"<b>Next</b><ul>{steps}</ul>"), w.HTML("<b>The cell that re-runs it</b>" + copy_box(outcome.cell)),
            self.frames]
        wizard.work("Reading the tables from DuckDB...",
                    lambda: (self.session.tables(arrow=wizard.arrow), self.session.locations()), self._show)

    def _show(self, found: tuple[dict, dict]) -> None:
        tables, where = found
        tables = {k: v.read_all() if hasattr(v, "read_all") else v for k, v in tables.items()}
        self.wizard.tables = tables
        parts = []
        for name, frame in tables.items():
            rows, cols = (frame.num_rows, frame.num_columns) if hasattr(frame, "num_rows") else frame.shape
            head = frame.slice(0, 5).to_pandas() if hasattr(frame, "num_rows") else frame.head(5)
            # rows one line tall: nested JSON collapses to "{city, country, …}", the full value on hover
            count = w.HTML(f"<div><b>{esc(where.get(name, name))}</b>: <span class='purelink-rows'>{rows}</span> "
                           f"rows × {cols} columns</div>")
            count.add_class("purelink-rowcount")
            preview = w.HTML("<div class='purelink-frame' style='overflow:auto;max-width:100%'>"
                             + frame_html(head) + "</div>")
            parts += [count, preview]
        self.frames.children = parts
