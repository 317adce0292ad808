"""The wizard: one screen per stage of the flow, on top of `purelink.wizard.Session`.

    %purelink                     # opens it; or Wizard(workspace="~/work").widget in any notebook
    %purelink --source stripe     # opens it at the streams of Stripe

The session holds every answer and does the work; this module only draws it. Slow work (the key's
health check, the probe, generation, the test and the run) goes to a background thread so that the
notebook stays free and the buttons answer; widgets are updated from that thread, nothing is
printed, so every output stays in the wizard's cell. While it runs, every button that starts work
(registered with `action()`) is disabled, and a click that still arrives is refused with a message:
one piece of work at a time, so a second Run can never take the monitor from the first.

Back, and the breadcrumb's stage names, keep what the current screen holds: committed to the
session when complete, kept as the session's draft otherwise (`Screen.keep`).
"""

from __future__ import annotations

import html
import threading
import traceback
from collections.abc import Callable

import ipywidgets as w

from purelink.errors import RuntimeFailure
from purelink.secrets.redact import redact
from purelink_jupyter.insert import CellInserter
from purelink_jupyter.render import WIZARD_CSS, markdown_inline

TITLES = {"source": "Source", "streams": "Streams", "requirements": "Requirements", "credentials": "Credentials",
          "schema": "Schema", "design": "Design", "generate": "Generate", "test": "Test", "run": "Run",
          "result": "Result"}


def screen_class(stage: str):
    from purelink_jupyter import screens as a
    from purelink_jupyter import screens_pipeline as b
    from purelink_jupyter import screens_schema as c

    return {"source": a.SourceScreen, "streams": a.StreamsScreen, "requirements": a.RequirementsScreen,
            "credentials": a.CredentialsScreen, "schema": c.SchemaScreen, "design": b.DesignScreen,
            "generate": b.GenerateScreen, "test": b.TestScreen, "run": b.RunScreen, "result": b.ResultScreen}[stage]


class Wizard:
    """The pipeline wizard. `widget` is what is displayed; `session` holds the answers."""

    def __init__(self, *, engine=None, workspace=None, source: str | None = None, executor: str = "auto",
                 model: str | None = None, sample_size: int = 5, insert_cells: bool = True, arrow: bool = False,
                 session=None) -> None:
        from purelink.wizard import Session

        self.session = session or Session(engine.workspace if engine is not None else workspace)
        self.executor = executor
        if not self.session.state.source:  # a new pipeline starts from `%config Purelink.executor`
            self.session.state.executor = executor  # type: ignore[assignment]
        self.model = model  # for the assistant, once the session takes one
        self.sample_size = sample_size
        self.arrow = arrow
        self.tables: dict = {}  # the loaded tables, once the result stage read them
        self.inserted: str | None = None  # the pipeline cell last inserted below the wizard
        self.inserter = CellInserter() if insert_cells else None
        self.busy = False
        self.running: str | None = None  # what the background work is doing, for the refusal message
        self.actions: list[w.Button] = []  # the current screen's buttons that start work
        self._tooltips: dict[str, str | None] = {}  # their own tooltips, while a disabled one explains why
        self.screen = None
        self.steps = w.HBox(layout=w.Layout(flex_flow="row wrap", align_items="center", margin="2px 0 8px"))
        self.steps.add_class("purelink-steps")
        self.body = w.VBox(layout=w.Layout(min_height="120px"))
        self.message = w.HTML()
        self.activity = w.HTML()
        self.back_button = w.Button(description="Back", icon="arrow-left", tooltip="The previous stage; nothing is lost")
        self.next_button = w.Button(description="Next", icon="arrow-right", button_style="primary")
        self.back_button.add_class("purelink-back")
        self.next_button.add_class("purelink-next")
        self.back_button.on_click(lambda _: self.back())
        self.next_button.on_click(lambda _: self.next())
        nav = w.HBox([self.back_button, self.next_button, self.activity])
        title = w.HTML("<div style='font-size:1.1em'><b>Purelink</b> · new pipeline</div>")
        self.widget = w.VBox([w.HTML(WIZARD_CSS), title, self.steps, self.body, self.message, nav],
                             layout=w.Layout(border="1px solid #ddd", padding="8px"))
        self.widget.add_class("purelink-wizard")
        if source:
            try:
                self.session.choose_source(source)
                self.session.next()
            except RuntimeFailure as exc:
                self.fail(exc)
        self.show()

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = (f"Purelink wizard at the {self.session.stage} stage. This frontend does not show "
                                "widgets: use `purelink el-agent` in a terminal, or a %%purelink cell.")
        return bundle

    # -- navigation -------------------------------------------------------------------------------
    def show(self) -> None:
        """Draw the screen of the session's current stage."""
        stage = self.session.stage
        self.actions = []
        self.screen = screen_class(stage)(self)
        self.body.children = [self.screen.widget]
        self._draw_steps()
        self._hold(self.busy)  # a screen may have started work as it was drawn (the probe, the tables)

    def _draw_steps(self) -> None:
        """The breadcrumb: every stage by name; a done stage (and a later one every stage before
        it allows) is a link that goes there."""
        from purelink.wizard import STAGES

        here = STAGES.index(self.session.stage)
        parts: list[w.Widget] = []
        reachable = True
        for i, stage in enumerate(STAGES):
            crumb = w.Button(description=f"{i + 1} {TITLES[stage]}", tooltip=f"Go to the {TITLES[stage]} stage")
            crumb.add_class("purelink-crumb")
            if i == here:
                crumb.add_class("purelink-crumb-here")
                crumb.add_class("purelink-stage")
                crumb.tooltip = "You are here"
            elif i > here and not reachable:
                crumb.add_class("purelink-crumb-later")
                crumb.disabled = True
                crumb.tooltip = "Complete the stages before it first"
            crumb.on_click(lambda _, to=stage: self.go(to))
            reachable = reachable and (i < here or self.session.missing(stage) is None)
            if parts:
                parts.append(w.HTML("<span style='color:#bbb'>›</span>"))
            parts.append(crumb)
        self.steps.children = parts

    def action(self, button: w.Button) -> w.Button:
        """Register a button that starts background work: disabled while any work runs."""
        button.add_class("purelink-action")
        self.actions.append(button)
        return button

    def _refused(self) -> bool:
        if self.busy:
            doing = (self.running or "The current step").rstrip(". ")
            self.say(f"{doing} is still running: this click was ignored. The buttons come back when it ends.",
                     "warn")
            return True
        return False

    def _keep(self) -> None:
        """The current screen's answers go to the session before leaving it (as Next would)."""
        if self.screen is not None:
            self.screen.keep()

    def go(self, stage: str) -> None:
        """The breadcrumb: go to `stage`, keeping this screen's answers."""
        if self._refused() or stage == self.session.stage:
            return
        self._keep()
        try:
            self.session.go(stage)
        except RuntimeFailure as exc:
            self.fail(exc)
            return
        self.say("")
        self.show()

    def next(self) -> None:
        if self._refused():
            return
        try:
            if self.screen is not None:
                self.screen.commit()
            self.session.next()
        except RuntimeFailure as exc:
            self.fail(exc)
            return
        self.say("")
        self.show()

    def back(self) -> None:
        if self._refused():
            return
        self._keep()
        self.session.back()
        self.say("")
        self.show()

    # -- messages and background work ---------------------------------------------------------------
    def say(self, text: str, kind: str = "info") -> None:
        colour = {"info": "#1565c0", "ok": "#2e7d32", "warn": "#ef6c00", "error": "#c62828"}[kind]
        self.message.value = (f"<div class='purelink-message purelink-{kind}' style='color:{colour}'>"
                              f"{markdown_inline(redact(text))}</div>") if text else ""

    def fail(self, exc: BaseException) -> None:
        if isinstance(exc, RuntimeFailure):
            self.say(f"{exc.message} {exc.guidance}".strip(), "error")
        else:
            detail = redact("".join(traceback.format_exception(exc))[-1500:])
            self.say(f"Something went wrong: {type(exc).__name__}: {exc}", "error")
            self.message.value += f"<details><summary>details</summary><pre>{html.escape(detail)}</pre></details>"

    def work(self, label: str, task: Callable[[], object], then: Callable[[object], None] | None = None) -> None:
        """Run `task` on a background thread; `then(result)` draws its outcome; errors are shown."""
        if self._refused():
            return
        self.busy = True
        self.running = label
        self.say("")
        self.activity.value = (f"<span class='purelink-busy' style='color:#666'><i class='fa fa-spinner fa-spin'></i> "
                               f"{html.escape(label)} "
                               "<span style='color:#999'>(the buttons that start work are disabled until it "
                               "ends)</span></span>")
        self._hold(True)

        def run() -> None:
            try:
                result = task()
                if then is not None:
                    then(result)
            except BaseException as exc:  # noqa: BLE001 - shown in the wizard; a thread has nobody else to tell
                self.fail(exc)
            finally:
                self.busy = False
                self.running = None
                self.activity.value = ""
                self._hold(False)

        threading.Thread(target=run, daemon=True, name="purelink-wizard").start()

    def _hold(self, busy: bool) -> None:
        """Disable (or give back) every button that starts work, the navigation and the breadcrumb."""
        for button in self.actions:
            button.disabled = busy
            if busy:  # the reason shows on hover, where the eye is
                self._tooltips.setdefault(button.model_id, button.tooltip)
                button.tooltip = f"Disabled while running: {(self.running or 'work').rstrip('.')}"
            elif button.model_id in self._tooltips:
                button.tooltip = self._tooltips.pop(button.model_id)
        for crumb in self.steps.children:
            if isinstance(crumb, w.Button) and "purelink-crumb-later" not in crumb._dom_classes:
                crumb.disabled = busy
        self.back_button.disabled = busy or self.session.stage == "source"
        self.next_button.disabled = busy or self.session.stage == "result"

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until background work is done (for scripts and tests); True if it finished."""
        import time

        deadline = time.monotonic() + timeout
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.busy
