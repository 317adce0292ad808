"""Putting the generated pipeline cell into the notebook, below the wizard.

`set_next_input` only works while a cell executes, not from a widget callback (jupyterlab#8893),
so a button cannot use it. ipylab's `JupyterFrontEnd` reaches JupyterLab's command registry over a
widget comm instead: `notebook:insert-cell-below` then `notebook:replace-selection` put the code in
a new cell under the active one (the wizard's, since its button was just clicked). The frontend
object is made when the wizard is shown, so its model is alive in the page (`lab_ready`) long
before the Generate button is clicked. Where that never happens (no ipylab, a frontend other than
JupyterLab) `copy_box` shows the code with a copy button instead.
"""

from __future__ import annotations

import html
import json

from purelink_jupyter.render import highlight


class CellInserter:
    """Inserts code cells below the active cell of JupyterLab, when JupyterLab answers."""

    def __init__(self) -> None:
        self.ready = False
        self.app = None
        try:
            from ipylab import JupyterFrontEnd
        except ImportError:
            return
        self.app = JupyterFrontEnd()
        self.app.on_ready(self._ready)

    def _ready(self) -> None:
        self.ready = True

    def insert_below(self, code: str) -> bool:
        """True when the request went to JupyterLab; False when the code must be copied by hand."""
        if not self.ready or self.app is None:
            return False
        self.app.commands.execute("notebook:insert-cell-below")
        self.app.commands.execute("notebook:replace-selection", {"text": code})
        return True


def copy_box(code: str) -> str:
    """HTML that shows `code` with a Copy button (the browser's clipboard; a selection as fallback)."""
    text = json.dumps(code)
    script = (
        "(function(b){var t=" + html.escape(text, quote=True) + ";"
        "function done(){b.textContent='Copied';setTimeout(function(){b.textContent='Copy';},1500);}"
        "if(navigator.clipboard){navigator.clipboard.writeText(t).then(done,function(){pick(b)});}else{pick(b);}"
        "function pick(b){var r=document.createRange();r.selectNodeContents(b.parentNode.querySelector('pre'));"
        "var s=window.getSelection();s.removeAllRanges();s.addRange(r);document.execCommand('copy');done();}"
        "})(this)")
    return ("<div class='purelink-code'>"
            f"<button class='purelink-copy' onclick=\"{script}\" style='float:right'>Copy</button>"
            f"{highlight(code)}</div>")
