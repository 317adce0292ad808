"""The schema stage's column chooser: nested fields as a tree with tri-state parents.

    tree = ColumnTree(probe.columns, chosen=["id", "address.city"])
    tree.widget        # groups (Core, Contact, Business, Complex) > columns > nested fields
    tree.selection()   # the paths to load, as `Session.choose_columns` takes them

A parent (a group, or an object such as `address`) shows ticked when every field under it is
ticked, unticked when none is, and mixed (a dash, CSS class `purelink-mixed`) in between; ticking
it ticks everything under it. Labels are the field's own name (the tree gives the rest) and the
full dotted path is on hover. Wide objects get a filter box.

What a ticked parent loads: a Contact object (`address`) field by field, as plain columns; any
other object (`invoice_settings`, `metadata`) whole, as JSON, when all its fields are ticked, and
field by field otherwise; this matches `purelink.discovery.columns.default_selection`.
"""

from __future__ import annotations

import ipywidgets as w

from purelink_jupyter.render import esc

FILTER_FROM = 12  # columns in a stream from which the filter box shows


def css_name(path: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in path)


class Node:
    """One checkbox of the tree: a group, a column, or a nested field."""

    def __init__(self, key: str, label: str, tooltip: str, column=None, level: int = 0) -> None:
        self.key, self.column, self.level = key, column, level
        self.children: list[Node] = []
        self.parent: Node | None = None
        self.box = w.Checkbox(value=False, description=label, indent=False, tooltip=tooltip,
                              layout=w.Layout(width="auto"))
        self.type = w.HTML(f"<span style='color:#999;font-size:11px'>{esc(column.type[:24])}</span>"
                           if column is not None else "")
        self.row = w.HBox([self.box, self.type], layout=w.Layout(margin=f"0 0 0 {18 * level}px",
                                                                  align_items="baseline"))

    def leaves(self) -> list[Node]:
        return [self] if not self.children else [leaf for c in self.children for leaf in c.leaves()]

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


class ColumnTree:
    def __init__(self, columns, chosen: list[str] | None) -> None:
        from purelink.discovery.columns import GROUPS, classify

        self.columns = list(columns)
        self.chose_all = chosen is None
        self._syncing = False
        self.groups: list[Node] = []
        self.nodes: dict[str, Node] = {}
        by_group: dict[str, Node] = {}
        for group in GROUPS:
            members = [c for c in self.columns if (c.group or classify(c)) == group]
            if not members:
                continue
            node = Node(f"group:{group}", f"{group} ({len(members)})", f"every {group} field")
            node.box.add_class(f"purelink-group-{group.lower()}")
            node.box.add_class("purelink-parent")
            by_group[group] = node
            self.groups.append(node)
        for c in self.columns:
            group = by_group[c.group or classify(c)]
            parent = self.nodes.get(c.parent) if c.parent else None
            level = (parent.level + 1) if parent else 1
            leaf = c.path.rsplit(".", 1)[-1] + (" ⚠" if c.heavy else "")
            tip = f"{c.path}: {c.type}" + (" (may slow extraction)" if c.heavy else "")
            node = Node(c.path, leaf, tip, column=c, level=level)
            node.box.add_class("purelink-column")
            node.box.add_class(f"purelink-path-{css_name(c.path)}")
            node.parent = parent or group
            node.parent.children.append(node)
            self.nodes[c.path] = node
        for node in self.nodes.values():
            if node.children:
                node.box.add_class("purelink-parent")
        self.groups = [g for g in self.groups if g.children]
        for group in self.groups:  # a field sits under its object, whatever group its name suggests
            group.box.description = f"{group.key.split(':')[1]} ({len(group.leaves())})"
        picked = set(chosen or [])
        for node in self.nodes.values():
            if not node.children:
                node.box.value = chosen is None or self._picked(node.key, picked)
        self._syncing = True
        for group in self.groups:
            self._refresh_down(group)
        self._syncing = False
        for group in self.groups:
            for node in group.walk():
                node.box.observe(lambda change, n=node: self._clicked(n, change["new"]), names="value")
        self.filter = w.Text(placeholder="filter fields, e.g. city", description="Filter",
                             style={"description_width": "initial"}, layout=w.Layout(width="280px"))
        self.filter.add_class("purelink-column-filter")
        self.filter.observe(lambda change: self.apply_filter(change["new"]), names="value")
        self.panels = {group.key: w.VBox([n.row for n in group.walk()],
                                         layout=w.Layout(min_width="220px", margin="0 24px 8px 0"))
                       for group in self.groups}  # one column per group, side by side
        columns_box = w.HBox(list(self.panels.values()), layout=w.Layout(flex_flow="row wrap"))
        parts = [self.filter] if len(self.columns) >= FILTER_FROM else []
        self.widget = w.VBox([*parts, columns_box])
        self.widget.add_class("purelink-column-tree")

    @staticmethod
    def _picked(path: str, picked: set[str]) -> bool:
        """A field is ticked when chosen, or when an object above it is chosen whole."""
        parts = path.split(".")
        return any(".".join(parts[:i]) in picked for i in range(1, len(parts) + 1))

    # -- tri-state ----------------------------------------------------------------------------------
    def state(self, node: Node) -> str:
        """'all', 'some' or 'none' of the fields under `node` ticked (a field: its own box)."""
        leaves = node.leaves()
        ticked = sum(leaf.box.value for leaf in leaves)
        return "all" if ticked == len(leaves) else "none" if ticked == 0 else "some"

    def _show(self, node: Node) -> None:
        if not node.children:
            return
        state = self.state(node)
        node.box.value = state == "all"
        if state == "some":
            node.box.add_class("purelink-mixed")
        else:
            node.box.remove_class("purelink-mixed")

    def _refresh_down(self, node: Node) -> None:
        for child in node.children:
            self._refresh_down(child)
        self._show(node)

    def _clicked(self, node: Node, value: bool) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            if node.children:  # a parent ticks or unticks everything under it
                for below in node.walk():
                    below.box.value = value
                    below.box.remove_class("purelink-mixed")
            up = node.parent
            while up is not None:
                self._show(up)
                up = up.parent
        finally:
            self._syncing = False

    # -- filter and answer --------------------------------------------------------------------------
    def apply_filter(self, text: str) -> None:
        """Show the fields whose path contains `text`, with the parents that lead to them."""
        text = text.strip().lower()

        def visit(node: Node) -> bool:
            below = [visit(c) for c in node.children]
            own = not text or (node.column is not None and text in node.column.path.lower())
            shown = own or any(below)
            node.row.layout.display = None if shown else "none"
            return shown

        for group in self.groups:  # a group with nothing to show gives its place up
            self.panels[group.key].layout.display = None if visit(group) else "none"

    def selection(self) -> list[str] | None:
        """The paths to load; None when every field was and still is chosen ("load as is")."""
        leaves = [n for n in self.nodes.values() if not n.children]
        if self.chose_all and all(n.box.value for n in leaves):
            return None
        out: list[str] = []

        def emit(node: Node) -> None:
            state = self.state(node)
            if state == "none":
                return
            if not node.children:
                out.append(node.key)
                return
            contact = node.column is not None and node.column.group == "Contact"
            if state == "all" and node.column is not None and not contact:
                out.append(node.key)  # the object whole, as JSON
                return
            for child in node.children:
                emit(child)

        for group in self.groups:
            for child in group.children:
                emit(child)
        return out
