"""Stage 1's "start from a ready recipe": a dropdown of the library's recipes the wizard can build
(`Session.ready_recipes()`); picking one answers stages 1-3 from it (`Session.start_from`)."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from purelink.errors import PurelinkError


def ready_box(wizard, on_started: Callable[[object], None]) -> w.Widget:
    """The chooser; `on_started(spec)` lets the source screen show the source now chosen."""
    session = wizard.session
    offered = session.ready_recipes()
    if not offered:
        return w.VBox()
    pick = w.Dropdown(options=[("", None)] + [(c.label, c.name) for c in offered], value=None,
                      description="Ready recipe", layout=w.Layout(width="460px"))
    pick.add_class("purelink-ready")

    def picked(change) -> None:
        if not change["new"]:
            return
        try:
            ready = session.start_from(change["new"])
        except PurelinkError as exc:
            wizard.fail(exc)
            return
        on_started(session.spec)
        later = f" Check its settings ({', '.join(ready.needs)}) at the requirements stage." if ready.needs else ""
        wizard.say(f"Started from the ready recipe {ready.name}: its streams, columns and requirements are filled "
                   f"in; check each stage with Next.{later}", "ok")

    pick.observe(picked, names="value")
    return w.VBox([w.HTML("<div style='margin-top:10px;color:#666'>Or start from a ready recipe:</div>"), pick])
