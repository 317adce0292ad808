"""The source screen's review of an OpenAPI import: every guess below 80% is a question.

    review = ImportReview(wizard, proposal, saved=lambda spec: ...)   # review.widget is shown

Each question shows the guessed value, how sure the importer is, its evidence, and the choices:
use the guess, no value (where a field may have none), a ready answer (auth), or another value.
None is pre-selected: "Use this connector" saves only once every question of the kept streams
has an answer, so nothing unsure is applied without the user having seen it (issue 19). The
questions follow the streams kept: a variable only a dropped stream needed is not asked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import yaml

from purelink.errors import SourceError
from purelink_jupyter.render import esc, markdown_block, markdown_inline

GUESS, NONE, OTHER = "guess", "none", "other"
MANY = 12  # more streams than this start unticked: their questions come with the streams ticked


def _shown(value: Any, width: int) -> str:
    """A guessed value as one line of YAML (the syntax 'Another value' takes), cut to `width`."""
    if value is None:
        return "no value"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    text = text.removesuffix("...").strip()
    return text if len(text) <= width else text[:width - 1] + "…"


class Question:
    """One unsure guess: the radio choices and the field for another value."""

    def __init__(self, guess, spec, changed: Callable[[], None]) -> None:
        self.guess = guess
        head, _, rest = guess.field.partition(".")
        self.presets: dict[str, Any] = {}
        options: list[tuple[str, str]] = []
        if guess.value is not None:
            options.append((f"Use the guess: {_shown(guess.value, 70)}", GUESS))
        if guess.field == "auth":  # the answers a person would give, without typing YAML
            env = spec.auth.env or f"{spec.name.upper()}_API_KEY"
            self.presets = {"preset:bearer": {"style": "bearer", "env": env},
                            "preset:none": {"style": "none"}}
            options += [("A token sent as Authorization: Bearer", "preset:bearer"), ("No key needed", "preset:none")]
        if head == "variables":
            options.append(("No default: each recipe gives it", NONE))
        elif rest:  # a stream's field may be left empty (no cursor, no filter, the connector's paging)
            options.append(("No value", NONE))
        options.append(("Another value (below)", OTHER))
        self.choice = w.RadioButtons(options=options, value=None, layout=w.Layout(width="auto"))
        self.choice.add_class("purelink-import-choice")
        self.other = w.Text(placeholder="a value, e.g. id or {style: bearer}", layout=w.Layout(width="420px"))
        self.other.add_class("purelink-import-other")
        self.other.observe(lambda change: self._typed(change["new"]), names="value")
        self.choice.observe(lambda _: changed(), names="value")
        self.other.observe(lambda _: changed(), names="value")
        self.status = w.HTML()
        about = (f"<div><b>{esc(guess.field)}</b> <span class='purelink-confidence' style='color:#ef6c00'>"
                 f"{guess.confidence:.0%} sure</span>: {markdown_inline(guess.evidence)}</div>"
                 f"<div style='color:#555'>guessed: <code>{esc(_shown(guess.value, 300))}</code></div>")
        self.widget = w.VBox([w.HTML(about), self.choice, w.HBox([self.other, self.status])],
                             layout=w.Layout(border_left="3px solid #ef6c00", padding="2px 0 6px 8px",
                                             margin="4px 0"))
        self.widget.add_class("purelink-import-question")
        self.widget.add_class("purelink-iq-" + re.sub(r"\W", "-", guess.field))  # e.g. .purelink-iq-contacts-cursor_field

    def _typed(self, text: str) -> None:
        if text.strip() and self.choice.value != OTHER:  # typing a value is choosing "another value"
            self.choice.value = OTHER

    def answered(self) -> bool:
        return self.choice.value is not None and (self.choice.value != OTHER or bool(self.other.value.strip()))

    def mark(self, missing: bool) -> None:
        self.status.value = "<span style='color:#c62828'>answer this one</span>" if missing else ""

    def changes(self, proposal) -> dict[str, Any]:
        """What the answer changes in the proposal (`Proposal.confirm` keys)."""
        field, picked = self.guess.field, self.choice.value
        if picked == GUESS:  # the spec holds the guess already; a path variable's becomes its default
            return proposal.kept([self.guess])
        if picked == NONE:
            return {} if field.startswith("variables.") else {field: None}
        if picked in self.presets:
            return {field: self.presets[picked]}
        text = self.other.value.strip()
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        return {field: value}


class ImportReview:
    """The proposal, its name, the streams to keep, and the questions; `saved(spec)` once confirmed."""

    def __init__(self, wizard, proposal, saved: Callable[[Any], None]) -> None:
        self.wizard, self.proposal, self.saved = wizard, proposal, saved
        self.asked: dict[str, Question] = {}  # by field: answers survive ticking streams on and off
        self.refused = False  # Save was clicked with questions open: their marks now follow the answers
        spec = proposal.spec
        self.name = w.Text(value=spec.name, description="Connector name", style={"description_width": "initial"},
                           layout=w.Layout(width="360px"))
        self.name.add_class("purelink-import-name")
        self.streams: dict[str, w.Checkbox] = {}
        every_one = len(spec.streams) <= MANY  # GitHub's 235 streams: the user ticks the few wanted
        for s in spec.streams:
            box = w.Checkbox(value=every_one, description=s.name, indent=False,
                             layout=w.Layout(width="auto", margin="0 14px 0 0"))
            box.add_class("purelink-import-stream")
            box.observe(lambda _: self._ask(), names="value")
            self.streams[s.name] = box
        self.questions = w.VBox()
        self.use = wizard.action(w.Button(description="Use this connector", button_style="success", icon="check",
                                          layout=w.Layout(width="auto")))
        self.use.add_class("purelink-import-use")
        self.use.on_click(lambda _: self.confirm())
        every = w.Accordion(children=[w.HTML(markdown_block(proposal.text()))])
        every.set_title(0, f"Every guess of the import ({len(proposal.guesses)}), with how sure and why")
        every.selected_index = None
        self.widget = w.VBox([
            w.HTML(f"<div style='margin-top:8px'><b>{esc(spec.title)}</b>: {len(spec.streams)} stream(s) proposed "
                   f"from {esc(proposal.location)}, base URL <code>{esc(spec.base_url or '?')}</code></div>"),
            every, self.name, w.HTML("<span style='color:#666'>Streams to keep:</span>"),
            w.HBox(list(self.streams.values()), layout=w.Layout(flex_flow="row wrap")),
            self.questions, self.use])
        self.widget.add_class("purelink-import-review")
        self._ask()

    def kept(self) -> list[str]:
        return [name for name, box in self.streams.items() if box.value]

    def pending(self) -> list[Question]:
        """The questions of the kept streams, in the importer's order."""
        out: list[Question] = []
        if not self.kept():  # nothing to import yet, so nothing to ask
            return out
        for guess in self.proposal.questions(self.kept()):
            if guess.field not in self.asked:
                self.asked[guess.field] = Question(guess, self.proposal.spec, self._answered)
            out.append(self.asked[guess.field])
        return out

    def _answered(self) -> None:
        """An answer changed: once Save was refused, the marks and the count follow the answers."""
        if not self.refused:
            return
        missing = [q for q in self.pending() if not q.answered()]
        for q in self.asked.values():
            q.mark(q in missing)
        if missing:
            self.wizard.say(f"{len(missing)} question(s) still unanswered.", "warn")
        else:
            self.refused = False
            self.wizard.say("Every question is answered: Use this connector saves it.", "ok")

    def _ask(self) -> None:
        pending = self.pending()
        if not self.kept():
            head = "<div style='margin-top:6px'>Tick the streams to import: their unsure guesses are asked here.</div>"
        elif pending:
            head = (f"<div style='margin-top:6px'><b>{len(pending)} guess(es) below 80%</b>: answer each one before "
                    "the connector is saved (nothing unsure is used without your answer).</div>")
        else:
            head = "<div style='margin-top:6px;color:#2e7d32'>Every guess is 80% sure or more.</div>"
        self.questions.children = [w.HTML(head), *(q.widget for q in pending)]
        self._answered()  # a dropped stream takes its open questions with it

    def changes(self) -> dict[str, Any]:
        kept = self.kept()
        if not kept:
            raise SourceError("No stream is kept.", "Tick at least one stream to import.")
        pending = self.pending()
        missing = [q for q in pending if not q.answered()]
        for q in pending:
            q.mark(q in missing)
        self.refused = bool(missing)
        if missing:
            names = ", ".join(q.guess.field for q in missing[:6]) + (" ..." if len(missing) > 6 else "")
            raise SourceError(f"{len(missing)} question(s) still unanswered: {names}.",
                              "Pick an answer for each (the guess, no value, or another value), then save.")
        out: dict[str, Any] = {}
        if len(kept) < len(self.streams):
            out["streams"] = kept
        name = self.name.value.strip()
        if name and name != self.proposal.spec.name:
            out["name"] = name
        for q in pending:
            out.update(q.changes(self.proposal))
        return out

    def confirm(self) -> None:
        try:
            changes = self.changes()
        except SourceError as exc:
            self.wizard.fail(exc)
            return
        self.wizard.work("Saving the connector...", lambda: self.wizard.session.confirm_import(changes), self.saved)
