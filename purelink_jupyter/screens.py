"""The wizard's first screens: source, streams, requirements, credentials, schema.

A screen draws one stage of the session: `widget` is shown, `commit()` hands the answers to the
session when Next is clicked (raising `PurelinkError` when something is missing). The later
stages live in `purelink_jupyter.screens_pipeline`.
"""

from __future__ import annotations

import html
import json

import ipywidgets as w

from purelink.errors import PurelinkError


def esc(value) -> str:
    return html.escape(str(value))


def table_html(headers: list[str], rows: list[list], cls: str = "") -> str:
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td style='padding:2px 8px;vertical-align:top'>{c}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table class='{cls}' style='border-collapse:collapse;font-size:12px'><tr>{head}</tr>{body}</table>"


def short(value, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return esc(text if len(text) <= width else text[:width - 1] + "…")


class Screen:
    def __init__(self, wizard) -> None:
        self.wizard = wizard
        self.session = wizard.session
        self.widget = w.VBox()

    def commit(self) -> None:
        """Give the answers on this screen to the session (Next was clicked)."""


class SourceScreen(Screen):
    """1: a combobox with ranked suggestions; for an API not in the catalog, its OpenAPI document or
    the assistant's discovery from a base URL and a key."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        self.by_label: dict[str, str] = {}
        self.combo = w.Combobox(placeholder="Type a source: Stripe, payments, crm...", ensure_option=False,
                                description="Source", layout=w.Layout(width="460px"))
        self.combo.add_class("purelink-source")
        self.suggestions = w.VBox()
        self.chosen = w.HTML()
        self.openapi = w.Text(placeholder="path or URL of an OpenAPI 3 document", layout=w.Layout(width="360px"))
        self.import_button = w.Button(description="Import OpenAPI", icon="file-import")
        self.import_button.on_click(lambda _: self._import())
        self.proposal = w.VBox()
        self._suggest("")
        if self.session.state.source:
            spec = self.session.spec
            self.combo.value = spec.label
            self._show_choice(spec)
        self.combo.observe(self._typed, names="value")
        from purelink_jupyter.assist import DiscoverBox, intent_box

        intent = intent_box(wizard, self._filled)
        self.discover = DiscoverBox(wizard, self._discovered)
        other = w.HTML("<div style='margin-top:10px;color:#666'>Not in the list? Import the API's OpenAPI "
                       "document:</div>")
        self.widget.children = [self.combo, self.suggestions, intent, self.chosen, other,
                                w.HBox([self.openapi, self.import_button]), self.proposal, self.discover.widget]

    def _suggest(self, text: str) -> list:
        found = self.session.suggest_sources(text)
        for s in found:
            self.by_label[s.label] = s.name
        self.combo.options = tuple(s.label for s in found)
        buttons = []
        for s in found[:6]:
            b = w.Button(description=s.label, tooltip=s.description, layout=w.Layout(width="auto"))
            b.add_class("purelink-suggestion")
            b.on_click(lambda _, name=s.name: self.choose(name))
            buttons.append(b)
        self.suggestions.children = ([w.HTML("<span style='color:#666'>Suggestions:</span>"),
                                      w.HBox(buttons, layout=w.Layout(flex_flow="row wrap"))] if buttons and text
                                     else [])
        return found

    def _typed(self, change) -> None:
        text = change["new"] or ""
        if text in self.by_label:
            self.choose(self.by_label[text])
            return
        try:
            found = self._suggest(text)
        except PurelinkError as exc:
            self.wizard.fail(exc)
            return
        known = {n.lower() for s in found for n in (s.name, s.title, s.label)}
        self.discover.offer("" if text.strip().lower() in known else text)

    def choose(self, name: str) -> None:
        try:
            spec = self.session.choose_source(name)
        except PurelinkError as exc:
            self.wizard.fail(exc)
            return
        if self.combo.value != spec.label:
            self.by_label[spec.label] = spec.name
            self.combo.value = spec.label
        self._show_choice(spec)
        self.wizard.say(f"{spec.title} chosen. Next: its streams.", "ok")

    def _filled(self, prefill) -> None:
        if self.session.state.source:
            spec = self.session.spec
            self.by_label[spec.label] = spec.name
            self.combo.value = spec.label
            self._show_choice(spec)
            self.wizard.say("Filled in from what you wrote: check each stage with Next.", "ok")
        elif prefill.unknown_source:
            self.discover.offer(prefill.unknown_source)
            self.wizard.say(f"{prefill.unknown_source} is not in the catalog: import its OpenAPI document below, "
                            "or ask the assistant to find it.", "warn")

    def _discovered(self, spec) -> None:
        self.by_label[spec.label] = spec.name
        self.combo.value = spec.label
        self._show_choice(spec)
        self.discover.offer("")
        self.wizard.say(f"{spec.title} found by the assistant, saved as connectors/{spec.name}.yaml and chosen. "
                        "Next: its streams.", "ok")

    def _show_choice(self, spec) -> None:
        streams = ", ".join(s.name for s in spec.streams)
        self.chosen.value = (f"<div class='purelink-chosen' style='margin-top:6px'><b>{esc(spec.title)}</b> "
                             f"({esc(spec.category)}): {esc(spec.description)}. Streams: {esc(streams)}.</div>")

    def _import(self) -> None:
        where = self.openapi.value.strip()
        if not where:
            self.wizard.say("Give the path or URL of the OpenAPI document first.", "warn")
            return
        self.wizard.work("Reading the OpenAPI document...", lambda: self.session.import_openapi(where),
                         self._show_proposal)

    def _show_proposal(self, proposal) -> None:
        use = w.Button(description="Use this connector", button_style="success", icon="check")
        use.on_click(lambda _: self.wizard.work("Saving the connector...", self.session.confirm_import,
                                                lambda spec: (self._show_choice(spec), self.wizard.say(
                                                    f"{spec.title} imported and chosen.", "ok"))))
        self.proposal.children = [w.HTML(f"<pre style='font-size:12px'>{esc(proposal.text())}</pre>"), use]

    def commit(self) -> None:
        if not self.session.state.source and self.combo.value.strip():
            self.session.choose_source(self.by_label.get(self.combo.value, self.combo.value.strip()))


class StreamsScreen(Screen):
    """2: a checklist of the source's streams with their descriptions."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        chosen = set(self.session.state.streams)
        self.boxes: dict[str, w.Checkbox] = {}
        rows = []
        for s in self.session.streams():
            box = w.Checkbox(value=s.name in chosen, description=s.name, indent=False,
                             layout=w.Layout(width="160px"))
            box.add_class("purelink-stream")
            self.boxes[s.name] = box
            how = "incremental" if s.incremental else "full reload"
            rows.append(w.HBox([box, w.HTML(f"<span style='color:#444'>{esc(s.description)}</span> "
                                            f"<span style='color:#999'>({how})</span>")]))
        spec = self.session.spec
        self.widget.children = [w.HTML(f"<b>Which {esc(spec.title)} streams should be loaded?</b>"), *rows]

    def commit(self) -> None:
        self.session.choose_streams([name for name, box in self.boxes.items() if box.value])


LABELS = {"poc": "POC", "production": "Production", "once": "Once", "hourly": "Hourly", "daily": "Daily",
          "duckdb": "DuckDB (local file)", "postgres": "PostgreSQL warehouse",
          "md": "MotherDuck", "bigquery": "BigQuery", "iceberg": "Iceberg tables", "yes": "My key is ready",
          "help me get keys": "Help me get keys"}


class RequirementsScreen(Screen):
    """3: purpose, frequency, history, destination, base URL, keys, and where it runs."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        self.fields: dict[str, w.Widget] = {}
        rows = []
        style = {"description_width": "200px"}
        for q in self.session.requirement_questions():
            if q.choices:
                default = q.default
                if q.key == "keys_ready":
                    default = "yes" if q.default else "help me get keys"
                field = w.RadioButtons(options=[(LABELS.get(c, c), c) for c in q.choices], value=default,
                                       description=q.prompt, style=style, layout=w.Layout(width="auto"))
            else:
                field = w.Text(value="" if q.default is None else str(q.default), description=q.prompt,
                               style=style, layout=w.Layout(width="620px"), placeholder=q.help)
            field.add_class(f"purelink-q-{q.key.replace('.', '-')}")
            self.fields[q.key] = field
            rows.append(field)
            if q.help and q.choices:
                rows.append(w.HTML(f"<div style='margin-left:208px;color:#888;font-size:12px'>{esc(q.help)}</div>"))
        # every store but DuckDB is named by its URL; its key (password, token, JSON) goes to the vault
        self.warehouse = w.Text(description="Store URL", style=style, layout=w.Layout(width="620px"),
                                placeholder="postgresql://user@host:5432/db, md:DB, bigquery://PROJECT/DATASET")
        self.executor = w.Dropdown(options=[("Docker container when it answers, else local", "auto"),
                                            ("Docker container", "docker"), ("Here, without isolation", "local")],
                                   value=self.session.state.executor if self.session.state.executor != "auto"
                                   else wizard.executor, description="Runs in", style=style)
        self.widget.children = [*rows, self.warehouse, self.executor]

    def commit(self) -> None:
        get = {k: f.value for k, f in self.fields.items()}
        variables = {k.split(".", 1)[1]: v for k, v in get.items() if k.startswith("variables.") and v}
        self.session.set_requirements(
            purpose=get.get("purpose"), frequency=get.get("frequency"),
            history_start=(get.get("history_start") or "").strip(), destination=get.get("destination"),
            warehouse_url=self.warehouse.value.strip() or None, executor=self.executor.value,
            keys_ready=get.get("keys_ready", "yes") == "yes", base_url=(get.get("base_url") or "").strip(),
            variables=variables or None)


class CredentialsScreen(Screen):
    """4: where to get the key, a masked field, and a Validate button (format + live check + vault)."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        help_ = self.session.key_guidance()
        self.status = w.HTML()
        if not help_.needs_key:
            self.widget.children = [w.HTML(f"{esc(help_.title)} needs no key.")]
            return
        steps = "".join(f"<li>{esc(s)}</li>" for s in help_.steps)
        link = (f"<a href='{esc(help_.dashboard_url)}' target='_blank' rel='noopener'>{esc(help_.dashboard_url)}</a>"
                if help_.dashboard_url else "")
        guide = (f"<b>Your {esc(help_.title)} key</b>"
                 + (f"<div>Dashboard: {link}</div>" if link else "") + (f"<ol>{steps}</ol>" if steps else "")
                 + (f"<div style='color:#444'>{esc(help_.key_hint)}</div>" if help_.key_hint else "")
                 + (f"<div style='color:#888'>{esc(help_.test_vs_live)}</div>" if help_.test_vs_live else ""))
        self.password = w.Password(placeholder="paste the key", description="Key", layout=w.Layout(width="420px"))
        self.password.add_class("purelink-key")
        self.save = w.Checkbox(value=True, description="Save it encrypted in the vault", indent=False)
        validate = w.Button(description="Validate", icon="check", button_style="primary")
        validate.add_class("purelink-validate")
        validate.on_click(lambda _: self._validate())
        parts = [w.HTML(guide), w.HBox([self.password, validate]), self.save]
        if help_.found:
            use = w.Button(description="Use the key found", icon="key", layout=w.Layout(width="auto"))
            use.add_class("purelink-use-found")
            use.on_click(lambda _: self.wizard.work("Checking the key with the API...",
                                                    self.session.use_existing_credential, self._validated))
            parts.insert(1, w.HBox([w.HTML(f"Found: {esc(help_.found)}&nbsp;"), use]))
        if help_.env:
            parts.append(w.HTML(f"<div style='color:#888;font-size:12px'>Or set the environment variable "
                                f"{esc(help_.env)} before starting Jupyter.</div>"))
        if self.session.state.credential_ok:
            self.status.value = "<span style='color:#2e7d32'>✓ The key was checked earlier in this session.</span>"
        self.widget.children = [*parts, self.status]

    def _validate(self) -> None:
        value = self.password.value
        self.password.value = ""  # the widget's state never keeps the key
        if not value.strip():
            self.wizard.say("Paste the key into the field first.", "warn")
            return
        save = self.save.value
        self.wizard.work("Checking the key with the API...",
                         lambda: self.session.set_credential(value, save=save), self._validated)

    def _validated(self, status) -> None:
        where = "validated and encrypted in the vault" if status.saved else "validated (kept in memory only)"
        self.status.value = (f"<span class='purelink-key-ok' style='color:#2e7d32'>✓ {esc(status.masked)} "
                             f"{where}. {esc(status.health)}</span>")
        self.wizard.say("The key works. Next: a sample of the data.", "ok")


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
        from purelink.discovery.columns import GROUPS

        pages = []
        for stream in self.session.state.streams:
            probe = self.session.probe_of(stream)
            groups = self.session.column_groups(stream)
            chosen = self.session.state.columns.get(stream)
            self.boxes[stream] = {}
            parts = [w.HTML(self._preview(probe)), self._schema(probe)]
            for group in GROUPS:
                columns = groups.get(group) or []
                if not columns:
                    continue
                boxes = []
                for c in columns:
                    label = c.path + (" ⚠" if c.heavy else "")
                    box = w.Checkbox(value=chosen is None or c.path in chosen, description=label, indent=False,
                                     tooltip=f"{c.type}{' - may slow extraction' if c.heavy else ''}",
                                     layout=w.Layout(width="230px"))
                    box.add_class("purelink-column")
                    self.boxes[stream][c.path] = box
                    boxes.append(box)
                toggle = w.Checkbox(value=all(b.value for b in boxes), description=f"{group} ({len(boxes)})",
                                    indent=False, layout=w.Layout(width="auto"))
                toggle.add_class(f"purelink-group-{group.lower()}")
                toggle.observe(lambda ch, bs=boxes: [setattr(b, "value", ch["new"]) for b in bs], names="value")
                parts += [toggle, w.GridBox(boxes, layout=w.Layout(grid_template_columns="repeat(3, 235px)",
                                                                   margin="0 0 6px 20px"))]
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
        records = probe.records[:5]
        if not records:
            return "<i>The API returned no records for this stream.</i>"
        keys = [k for k in records[0] if k == "id"] + [k for k in records[0] if k != "id"]
        keys = keys[:8]
        rows = [[short(r.get(k), 28) for k in keys] for r in records]
        more = len(records[0]) - len(keys)
        return (f"<b>{esc(probe.stream)}: {len(records)} sample records</b>"
                + table_html(keys, rows, "purelink-preview")
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
        for stream, boxes in self.boxes.items():
            self.session.choose_columns(stream, [path for path, box in boxes.items() if box.value])
