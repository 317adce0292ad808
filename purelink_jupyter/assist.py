"""The assistant in the wizard: free text that fills the first stages, and a failed test explained.

Both say which assistant answered (Gemini with `GEMINI_API_KEY`, offline rules otherwise) and apply
nothing the user has not seen: an explanation's recipe change waits for its Accept button.
"""

from __future__ import annotations

import ipywidgets as w

from purelink_jupyter.screens import esc


def assistant_for(wizard):
    """The wizard's assistant, made once (`%config Purelink.model` picks Gemini's model)."""
    if getattr(wizard, "assistant", None) is None:
        from purelink.assistant import get_assistant

        wizard.assistant = get_assistant(model=wizard.model)
    return wizard.assistant


def intent_box(wizard, on_filled) -> w.Widget:
    """'stripe customers since January, daily' -> source, streams and requirements filled in."""
    try:
        name = assistant_for(wizard).name
    except ImportError:
        return w.VBox()
    text = w.Text(placeholder="or describe it: stripe customers since January, daily",
                  layout=w.Layout(width="460px"))
    text.add_class("purelink-intent")
    button = w.Button(description="Fill in", icon="magic")
    button.add_class("purelink-fill")
    result = w.HTML()

    def fill(_=None) -> None:
        said = text.value.strip()
        if not said:
            return
        from purelink.assistant.wizard import prefill

        def done(p) -> None:
            result.value = f"<pre style='font-size:12px;margin:4px 0'>{esc(p.text())}</pre>"
            on_filled(p)

        wizard.work(f"Asking the assistant ({name})...",
                    lambda: prefill(wizard.session, said, assistant=assistant_for(wizard)), done)

    button.on_click(fill)
    label = w.HTML(f"<span style='color:#888;font-size:12px'>assistant: {esc(name)}</span>")
    return w.VBox([w.HBox([text, button, label]), result])


def explain_box(wizard, finished: dict, on_accepted) -> w.Widget:
    """An Explain button for a failed test run; the proposed change is applied only on Accept."""
    button = w.Button(description="Explain", icon="question-circle", tooltip="Ask the assistant what went wrong")
    button.add_class("purelink-explain")
    answer = w.VBox()

    def explain(_=None) -> None:
        from purelink.assistant.wizard import explain_failure

        wizard.work("Asking the assistant...",
                    lambda: explain_failure(wizard.session, finished, assistant=assistant_for(wizard)), show)

    def show(explanation) -> None:
        parts = [w.HTML(f"<pre style='font-size:12px'>{esc(explanation.text())}</pre>")]
        if explanation.change is not None:
            accept = w.Button(description="Accept the change", icon="check", button_style="success")
            accept.on_click(lambda _: wizard.work("Saving the next recipe version...",
                                                  lambda: _accept(explanation), on_accepted))
            parts.append(accept)
        answer.children = parts

    def _accept(explanation):
        from purelink.assistant.wizard import accept_change

        return accept_change(wizard.session, explanation)

    button.on_click(explain)
    return w.VBox([button, answer])
