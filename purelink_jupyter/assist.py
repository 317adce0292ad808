"""The assistant in the wizard: free text that fills the first stages, a connector found for an API
in no catalog, and a failed test explained.

Both say which assistant answered (Gemini with `GEMINI_API_KEY`, offline rules otherwise) and apply
nothing the user has not seen: an explanation's recipe change waits for its Accept button.
"""

from __future__ import annotations

import ipywidgets as w

from purelink_jupyter.render import esc, markdown_block


def assistant_for(wizard):
    """The wizard's assistant, made once (`%config Purelink.model` picks Gemini's model)."""
    if getattr(wizard, "assistant", None) is None:
        from purelink.assistant import get_assistant

        wizard.assistant = get_assistant(model=wizard.model)
    return wizard.assistant


def intent_box(wizard, on_filled) -> w.Widget:
    """'stripe customers since January, daily' -> source, streams and requirements filled in."""
    name = assistant_for(wizard).name
    text = w.Text(placeholder="or describe it: stripe customers since January, daily",
                  layout=w.Layout(width="460px"))
    text.add_class("purelink-intent")
    button = wizard.action(w.Button(description="Fill in", icon="magic"))
    button.add_class("purelink-fill")
    result = w.HTML()

    def fill(_=None) -> None:
        said = text.value.strip()
        if not said:
            return
        from purelink.assistant.prefill import prefill

        def done(p) -> None:
            result.value = markdown_block(p.text())
            on_filled(p)

        wizard.work(f"Asking the assistant ({name})...",
                    lambda: prefill(wizard.session, said, assistant=assistant_for(wizard)), done)

    button.on_click(fill)
    label = w.HTML(f"<span style='color:#888;font-size:12px'>assistant: {esc(name)}</span>")
    return w.VBox([w.HBox([text, button, label]), result])


def explain_box(wizard, finished: dict, on_accepted) -> w.Widget:
    """An Explain button for a failed test run; the proposed change is applied only on Accept."""
    button = wizard.action(w.Button(description="Explain", icon="question-circle",
                                    tooltip="Ask the assistant what went wrong"))
    button.add_class("purelink-explain")
    answer = w.VBox()

    def explain(_=None) -> None:
        from purelink.assistant.prefill import explain_failure

        wizard.work("Asking the assistant...",
                    lambda: explain_failure(wizard.session, finished, assistant=assistant_for(wizard)), show)

    def show(explanation) -> None:
        parts = [w.HTML(markdown_block(explanation.text()))]
        if explanation.change is not None:
            accept = wizard.action(w.Button(description="Accept the change", icon="check", button_style="success"))
            accept.on_click(lambda _: wizard.work("Saving the next recipe version...",
                                                  lambda: _accept(explanation), on_accepted))
            parts.append(accept)
        answer.children = parts

    def _accept(explanation):
        from purelink.assistant.prefill import accept_change

        return accept_change(wizard.session, explanation)

    button.on_click(explain)
    return w.VBox([button, answer])


class DiscoverBox:
    """An API in no catalog and with no OpenAPI document: the assistant proposes a connector, probes
    it with the key and corrects it from what went wrong (as `purelink el-agent` does). Each round is
    shown as it arrives; nothing is saved before "Use this connector"."""

    def __init__(self, wizard, on_accepted) -> None:
        self.wizard = wizard
        self.on_accepted = on_accepted
        self.discovery = None
        self.intro = w.HTML()
        self.open_button = w.Button(description="Ask the assistant", icon="magic", layout=w.Layout(width="auto"))
        self.open_button.add_class("purelink-discover-open")
        self.open_button.on_click(lambda _: self.open())
        style = {"description_width": "80px"}
        self.name = w.Text(description="Name", placeholder="the API's name, e.g. Acme Tickets", style=style,
                           layout=w.Layout(width="460px"))
        self.name.add_class("purelink-discover-name")
        self.base_url = w.Text(description="Base URL", placeholder="https://api.example.com/v2", style=style,
                               layout=w.Layout(width="460px"))
        self.base_url.add_class("purelink-discover-url")
        self.key = w.Password(description="Key", placeholder="API key or token (used only to probe)", style=style,
                              layout=w.Layout(width="460px"))
        self.key.add_class("purelink-discover-key")
        find = wizard.action(w.Button(description="Find the connector", icon="search", button_style="primary"))
        find.add_class("purelink-discover")
        find.on_click(lambda _: self.find())
        self.answered = w.HTML()
        self.rounds = w.HTML()
        self.rounds.add_class("purelink-rounds")
        self.answer = w.VBox()
        self.form = w.VBox([self.name, self.base_url, w.HBox([self.key, find]), self.answered, self.rounds,
                            self.answer], layout=w.Layout(display="none"))
        self.widget = w.VBox([w.HBox([self.intro, self.open_button]), self.form],
                             layout=w.Layout(display="none", margin="10px 0 0 0"))
        self.widget.add_class("purelink-discover-section")

    def offer(self, name: str) -> None:
        """Show the way in for a name the catalog does not know (hidden again for an empty name)."""
        name = name.strip()
        self.widget.layout.display = None if name else "none"
        self.intro.value = (f"<span style='color:#666'>{esc(name)} is not in the catalog. No OpenAPI document "
                            "either? The assistant can find its connector from the base URL and a key:&nbsp;</span>")
        self.name.value = name

    def open(self) -> None:
        self.form.layout.display = None

    def find(self) -> None:
        name, base_url, key = self.name.value.strip(), self.base_url.value.strip(), self.key.value
        self.key.value = ""  # the widget's state never keeps the key
        if not name or not base_url:
            self.wizard.say("Give the API's name and its base URL first.", "warn")
            return
        assistant = assistant_for(self.wizard)
        from purelink.assistant.prefill import discover_source

        self.discovery = None
        self.answered.value = f"<span style='color:#888;font-size:12px'>assistant: {esc(assistant.name)}</span>"
        self.rounds.value = ""
        self.answer.children = []
        shown: list = []

        def show(round_) -> None:  # called on the wizard's thread as each round ends
            shown.append(round_)
            self.rounds.value = "".join(markdown_block(r.text()) for r in shown)

        self.wizard.work(f"Asking the assistant ({assistant.name}) and probing {base_url}...",
                         lambda: discover_source(self.wizard.session, name, base_url=base_url, key=key or None,
                                                 assistant=assistant, on_round=show), self._found)

    def _found(self, discovery) -> None:
        self.discovery = discovery
        verdict = discovery.text().splitlines()[0]
        if discovery.spec is None:
            self.answer.children = [w.HTML(f"<div style='color:#c62828'>{esc(verdict)}</div>")]
            self.wizard.say(f"No working connector was found for {discovery.name}. " + (
                discovery.question or "Check the base URL and the key, or import an OpenAPI document."), "warn")
            return
        streams = ", ".join(s.name for s in discovery.spec.streams)
        use = self.wizard.action(w.Button(description="Use this connector", button_style="success", icon="check"))
        use.add_class("purelink-use-discovered")
        use.on_click(lambda _: self.wizard.work("Saving the connector...", self._accept, self.on_accepted))
        self.answer.children = [w.HTML(f"<div><b>{esc(verdict)}</b>. Streams: {esc(streams)}.</div>"), use]

    def _accept(self):
        from purelink.assistant.prefill import accept_source

        return accept_source(self.wizard.session, self.discovery)
