"""The wizard's first screens: source, streams, requirements, credentials, schema.

A screen draws one stage of the session: `widget` is shown, `commit()` hands the answers to the
session when Next is clicked (raising `PurelinkError` when something is missing). The later
stages live in `purelink_jupyter.screens_pipeline`.
"""

from __future__ import annotations

import threading

import ipywidgets as w

from purelink.errors import PurelinkError
from purelink_jupyter.render import esc, short, table_html

__all__ = ["Screen", "esc", "short", "table_html"]

TYPING_PAUSE_S = 0.8  # "not in the catalog" waits until the user stops typing for this long


class Screen:
    def __init__(self, wizard) -> None:
        self.wizard = wizard
        self.session = wizard.session
        self.widget = w.VBox()

    def commit(self) -> None:
        """Give the answers on this screen to the session (Next was clicked)."""

    def answers(self) -> dict:
        """What the screen holds, as a draft the session keeps when it cannot be committed yet."""
        return {}

    def keep(self) -> None:
        """Leaving the screen (Back, the breadcrumb): commit what it holds, or keep it as a draft."""
        if self.wizard.busy:
            return
        try:
            self.commit()
        except PurelinkError:
            held = self.answers()
            if held:
                self.session.remember(self.session.stage, held)


class SourceScreen(Screen):
    """1: a combobox with ranked suggestions; for an API not in the catalog, its OpenAPI document or
    the assistant's discovery from a base URL and a key."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        self.by_label: dict[str, str] = {}
        self._pause: threading.Timer | None = None
        self.review = None  # the pending OpenAPI import's questions, once a document is read
        self.combo = w.Combobox(placeholder="Type a source: Stripe, payments, crm...", ensure_option=False,
                                description="Source", style={"description_width": "initial"},
                                layout=w.Layout(width="460px"))
        self.combo.add_class("purelink-source")
        self.suggestions = w.VBox()
        self.chosen = w.HTML()
        self.openapi = w.Text(placeholder="path or URL of an OpenAPI 3 document", layout=w.Layout(width="360px"))
        self.import_button = wizard.action(w.Button(description="Import OpenAPI", icon="file-import"))
        self.import_button.on_click(lambda _: self._import())
        self.proposal = w.VBox()
        self._suggest("")
        if self.session.state.source:
            spec = self.session.spec
            self.combo.value = spec.label
            self._show_choice(spec)
        self.combo.observe(self._typed, names="value")
        from purelink_jupyter.assist import DiscoverBox, intent_box
        from purelink_jupyter.ready import ready_box

        intent = intent_box(wizard, self._filled)
        ready = ready_box(wizard, self._discovered_or_ready)
        self.discover = DiscoverBox(wizard, self._discovered)
        other = w.HTML("<div style='margin-top:10px;color:#666'>Not in the list? Import the API's OpenAPI "
                       "document:</div>")
        self.widget.children = [self.combo, self.suggestions, intent, ready, self.chosen, other,
                                w.HBox([self.openapi, self.import_button]), self.proposal, self.discover.widget]

    def _suggest(self, text: str) -> list:
        found = self.session.suggest_sources(text)
        for s in found:
            self.by_label[s.label] = s.name
        self.combo.options = tuple(s.label for s in found)
        rows = []
        for s in found[:6]:  # the title to click, and the catalog's one-line description beside it
            b = w.Button(description=s.title, tooltip=s.label, layout=w.Layout(width="auto", min_width="110px"))
            b.add_class("purelink-suggestion")
            b.on_click(lambda _, name=s.name: self.choose(name))
            kind = (f" <span style='color:#999'>· {esc(s.category)}</span>"
                    if s.category and s.category.lower() != s.description.lower() else "")
            about = w.HTML(f"<span style='color:#555'>{esc(s.description)}{kind}</span>")
            about.add_class("purelink-suggestion-about")
            rows.append(w.HBox([b, about], layout=w.Layout(align_items="center")))
        self.suggestions.children = ([w.HTML("<span style='color:#666'>Suggestions:</span>"), *rows]
                                     if rows and text else [])
        return found

    def _typed(self, change) -> None:
        text = change["new"] or ""
        self._cancel_pause()
        if text in self.by_label:
            self.choose(self.by_label[text])
            return
        try:
            found = self._suggest(text)
        except PurelinkError as exc:
            self.wizard.fail(exc)
            return
        typed = text.strip().lower()
        known = {n.lower() for s in found for n in (s.name, s.title, s.label)}
        if not typed or typed in known or any(n.startswith(typed) for n in known):  # on its way to a name
            self.discover.offer("")
            return
        self.discover.offer("")  # while typing, no verdict: "St" is on its way to "Stripe"
        self._pause = threading.Timer(TYPING_PAUSE_S, self._stopped_typing, args=(text,))
        self._pause.daemon = True
        self._pause.start()

    def _cancel_pause(self) -> None:
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None

    def _stopped_typing(self, text: str) -> None:
        """The user paused on a name the catalog does not know: offer the ways in for it, unless
        the text moved on or a catalog source was chosen meanwhile."""
        chosen = self.session.state.source
        if self.combo.value != text or (chosen and text in (self.session.spec.label, self.session.spec.title)):
            return
        self.discover.offer(text)

    def choose(self, name: str) -> None:
        try:
            spec = self.session.choose_source(name)
        except PurelinkError as exc:
            self.wizard.fail(exc)
            return
        self._cancel_pause()
        if self.combo.value != spec.label:
            self.by_label[spec.label] = spec.name
            self.combo.value = spec.label
        self.discover.offer("")  # a catalog source is chosen: no "not in the catalog" for it
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

    def _discovered_or_ready(self, spec) -> None:
        self.by_label[spec.label] = spec.name
        self.combo.value = spec.label
        self._show_choice(spec)
        self.discover.offer("")

    def _discovered(self, spec) -> None:
        self._discovered_or_ready(spec)
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
        """The import's questions (every guess below 80%), answered before the connector is saved."""
        from purelink_jupyter.import_review import ImportReview

        self.review = ImportReview(self.wizard, proposal, self._imported)
        self.proposal.children = [self.review.widget]

    def _imported(self, spec) -> None:
        self.proposal.children = []
        self.by_label[spec.label] = spec.name
        self.combo.value = spec.label
        self._show_choice(spec)
        self.wizard.say(f"{spec.title} imported, saved as connectors/{spec.name}.yaml and chosen. "
                        "Next: its streams.", "ok")

    def commit(self) -> None:
        if not self.session.state.source and self.combo.value.strip():
            self.session.choose_source(self.by_label.get(self.combo.value, self.combo.value.strip()))


class StreamsScreen(Screen):
    """2: a checklist of the source's streams with their descriptions."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        draft = self.session.draft_of("streams")
        chosen = set(draft.get("streams", self.session.state.streams))
        self.boxes: dict[str, w.Checkbox] = {}
        rows = []
        for s in self.session.streams():
            box = w.Checkbox(value=s.name in chosen, description=s.name, indent=False,
                             layout=w.Layout(width="auto", min_width="160px"))
            box.add_class("purelink-stream")
            self.boxes[s.name] = box
            how = "incremental" if s.incremental else "full reload"
            rows.append(w.HBox([box, w.HTML(f"<span style='color:#444'>{esc(s.description)}</span> "
                                            f"<span style='color:#999'>({how})</span>")]))
        spec = self.session.spec
        self.widget.children = [w.HTML(f"<b>Which {esc(spec.title)} streams should be loaded?</b>"), *rows]

    def answers(self) -> dict:
        return {"streams": [name for name, box in self.boxes.items() if box.value]}

    def commit(self) -> None:
        self.session.choose_streams(self.answers()["streams"])


LABELS = {"poc": "POC", "production": "Production", "once": "Once", "hourly": "Hourly", "daily": "Daily",
          "duckdb": "DuckDB (local file)", "postgres": "PostgreSQL warehouse",
          "md": "MotherDuck", "bigquery": "BigQuery", "iceberg": "Iceberg tables", "yes": "My key is ready",
          "help me get keys": "Help me get keys"}


LOCAL_STORES = ("duckdb",)  # stores that are a file here; any other one is reached by its URL
LABEL_WIDTH = "230px"


class RequirementsScreen(Screen):
    """3: purpose, frequency, history, destination, base URL, keys, and where it runs. Labels sit
    in one column wide enough for the longest; the warehouse URL shows only for a warehouse."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        self.fields: dict[str, w.Widget] = {}
        draft = self.session.draft_of("requirements")
        st = self.session.state
        rows = []
        style = {"description_width": LABEL_WIDTH}
        for q in self.session.requirement_questions():
            default = draft.get(q.key, q.default)
            if q.choices:
                if q.key == "keys_ready" and isinstance(default, bool):
                    default = "yes" if default else "help me get keys"
                if default not in q.choices:
                    default = q.choices[0]
                field = w.RadioButtons(options=[(LABELS.get(c, c), c) for c in q.choices], value=default,
                                       description=q.prompt, style=style, layout=w.Layout(width="auto"))
            else:  # "Load history from (ISO date, empty: everything)": the label, and the hint inside the field
                label, _, hint = q.prompt.partition(" (")
                field = w.Text(value="" if default is None else str(default), description=label,
                               style=style, layout=w.Layout(width="680px"),
                               placeholder=q.help or hint.rstrip(")"))
            field.add_class(f"purelink-q-{q.key.replace('.', '-')}")
            self.fields[q.key] = field
            rows.append(field)
            if q.help and q.choices:
                rows.append(w.HTML(f"<div style='margin:-4px 0 4px {int(LABEL_WIDTH[:-2]) + 8}px;color:#888;"
                                   f"font-size:12px'>{esc(q.help)}</div>"))
        # every store but DuckDB is named by its URL; its key (password, token, JSON) goes to the vault
        self.warehouse = w.Text(value=draft.get("warehouse_url", st.destination.url or ""),
                                description="Store URL", style=style, layout=w.Layout(width="680px"),
                                placeholder="postgresql://user@host:5432/db, md:DB, bigquery://PROJECT/DATASET")
        self.warehouse.add_class("purelink-q-warehouse_url")
        executor = draft.get("executor", st.executor)
        self.executor = w.Dropdown(options=[("Docker container when it answers, else here", "auto"),
                                            ("Docker container", "docker"), ("Here, without isolation", "local")],
                                   value=executor, description="Runs in", style=style,
                                   layout=w.Layout(width="600px"))
        self.executor.add_class("purelink-q-executor")
        # The warehouse URL belongs to the store chosen; the field follows the choice.
        if "destination" in self.fields:
            rows.insert(rows.index(self.fields["destination"]) + 1, self.warehouse)
            self.fields["destination"].observe(lambda ch: self._store_chosen(ch["new"]), names="value")
            self._store_chosen(self.fields["destination"].value)
        else:
            rows.append(self.warehouse)
        self.widget.children = [*rows, self.executor]

    def _store_chosen(self, kind: str) -> None:
        self.warehouse.layout.display = "none" if kind in LOCAL_STORES else None

    def answers(self) -> dict:
        held = {k: f.value for k, f in self.fields.items()}
        held.update(warehouse_url=self.warehouse.value, executor=self.executor.value)
        return held

    def commit(self) -> None:
        get = self.answers()
        variables = {k.split(".", 1)[1]: v for k, v in get.items() if k.startswith("variables.") and v}
        warehouse = get["warehouse_url"].strip() if get.get("destination") not in LOCAL_STORES else ""
        self.session.set_requirements(
            purpose=get.get("purpose"), frequency=get.get("frequency"),
            history_start=(get.get("history_start") or "").strip(), destination=get.get("destination"),
            warehouse_url=warehouse or None, executor=self.executor.value,
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
        self.password = w.Password(placeholder="paste the key", description="Key",
                                   style={"description_width": "initial"}, layout=w.Layout(width="420px"))
        self.password.add_class("purelink-key")
        self.save = w.Checkbox(value=True, description="Save it encrypted in the vault", indent=False)
        validate = wizard.action(w.Button(description="Validate", icon="check", button_style="primary"))
        validate.add_class("purelink-validate")
        validate.on_click(lambda _: self._validate())
        fields: list[w.Widget] = [self.password]
        self.second = None  # Basic auth's own password (Twilio's auth token): a field of its own
        if help_.password_env:
            self.password.description = "User name (key)"
            self.second = w.Password(placeholder=f"paste the {help_.password_env}", description="Password",
                                     style={"description_width": "initial"}, layout=w.Layout(width="420px"))
            self.second.add_class("purelink-key-password")
            fields.append(self.second)
        parts = [w.HTML(guide), w.HBox([w.VBox(fields), validate]), self.save]
        if help_.found:
            use = wizard.action(w.Button(description="Use the key found", icon="key", layout=w.Layout(width="auto")))
            use.add_class("purelink-use-found")
            use.on_click(lambda _: self.wizard.work("Checking the key with the API...",
                                                    self.session.use_existing_credential, self._validated))
            parts.insert(1, w.HBox([w.HTML(f"Found: {esc(help_.found)}&nbsp;"), use]))
        if help_.env:
            names = (f"variables {esc(help_.env)} and {esc(help_.password_env)}" if help_.password_env
                     else f"variable {esc(help_.env)}")
            parts.append(w.HTML(f"<div style='color:#888;font-size:12px'>Or set the environment {names} "
                                "before starting Jupyter.</div>"))
        if self.session.state.credential_ok:
            self.status.value = "<span style='color:#2e7d32'>✓ The key was checked earlier in this session.</span>"
        self.widget.children = [*parts, self.status]

    def _validate(self) -> None:
        value = self.password.value
        second = self.second.value if self.second is not None else None
        self.password.value = ""  # the widget's state never keeps the key
        if self.second is not None:
            self.second.value = ""
        if not value.strip() or (self.second is not None and not second.strip()):
            self.wizard.say("Paste the key into the field first." if self.second is None
                            else "Paste both, the user name (key) and the password, first.", "warn")
            return
        save = self.save.value
        self.wizard.work("Checking the key with the API...",
                         lambda: self.session.set_credential(value, save=save, password=second), self._validated)

    def _validated(self, status) -> None:
        where = "validated and encrypted in the vault" if status.saved else "validated (kept in memory only)"
        self.status.value = (f"<span class='purelink-key-ok' style='color:#2e7d32'>✓ {esc(status.masked)} "
                             f"{where}. {esc(status.health)}</span>")
        self.wizard.say("The key works. Next: a sample of the data.", "ok")
