"""The wizard's schema stage: the sampled records, the inferred schema, and the column tree."""

from __future__ import annotations

import ipywidgets as w

from purelink.errors import PurelinkError
from purelink.runtime.formats import apply_formats
from purelink_jupyter.render import compact_table, esc, short, table_html
from purelink_jupyter.screens import Screen


class SchemaScreen(Screen):
    """5: five sampled records, the inferred schema, and grouped column checkboxes per stream."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        self.boxes: dict[str, dict[str, w.Checkbox]] = {}
        st = self.session.state
        if any(s not in st.probed for s in st.streams):
            self.widget.children = [w.HTML("Fetching 5 records of each stream...")]
            wizard.work("Fetching 5 sample records...", self.session.probe, lambda _: self._draw())
        else:
            self._draw()

    def _draw(self) -> None:
        from purelink_jupyter.columns_tree import ColumnTree

        pages = []
        self.trees: dict = {}
        for stream in self.session.state.streams:
            probe = self.session.probe_of(stream)
            self.session.column_groups(stream)  # sets each column's group
            tree = ColumnTree(probe.columns, self.session.state.columns.get(stream))
            self.trees[stream] = tree
            self.boxes[stream] = {path: node.box for path, node in tree.nodes.items()}
            parts = [w.HTML(self._preview(probe)), self._schema(probe),
                     w.HTML("<b>Columns to load</b> <span style='color:#888;font-size:12px'>(a ticked object "
                            "loads whole, as JSON; address fields become plain columns)</span>"), tree.widget]
            heavy = [c.path for c in probe.columns if c.heavy]
            if heavy:
                parts.append(w.HTML(f"<div style='color:#ef6c00'>⚠ may slow extraction: {esc(', '.join(heavy))}</div>"))
            pages.append(w.VBox(parts))
        if len(pages) == 1:
            self.widget.children = pages
        else:
            tabs = w.Tab(children=pages)
            for i, stream in enumerate(self.session.state.streams):
                tabs.set_title(i, stream)
            self.widget.children = [tabs]

    @staticmethod
    def _preview(probe) -> str:
        # declared Unix times shown as the instants the table will hold, like the types beside them
        top = {k: unit for k, unit in (probe.formats or {}).items() if "." not in k}
        records = [apply_formats(r, top)[0] for r in probe.records[:5]]
        if not records:
            return "<i>The API returned no records for this stream.</i>"
        keys = [k for k in records[0] if k == "id"] + [k for k in records[0] if k != "id"]
        keys = keys[:8]
        more = len(records[0]) - len(keys)
        return (f"<b>{esc(probe.stream)}: {len(records)} sample records</b>"
                + compact_table(records, keys, "purelink-preview purelink-compact", width=28)
                + (f"<div style='color:#888;font-size:12px'>and {more} more fields</div>" if more > 0 else ""))

    @staticmethod
    def _schema(probe) -> w.Widget:
        rows = [[esc(c.path), esc(c.type), "yes" if c.nullable else "no", short(", ".join(c.examples[:2]), 36)]
                for c in probe.columns]
        box = w.Accordion(children=[w.HTML(table_html(["field", "type", "nullable", "examples"], rows))])
        box.set_title(0, f"Inferred schema ({len(rows)} fields)")
        box.selected_index = None
        return box

    def commit(self) -> None:
        if self.wizard.busy:
            raise PurelinkError("The sample is still being fetched.", "Wait a moment, then click Next.")
        for stream, tree in getattr(self, "trees", {}).items():
            self.session.choose_columns(stream, tree.selection())
