"""The el-agent's first stage, choosing the source: from the catalog (completed as you type), a
ready recipe of the library, an OpenAPI document, or, for an API in neither, a connector the
assistant proposes and probes with the user's key (`purelink.cli.el_agent` runs the stages)."""

from __future__ import annotations

from typing import Any

from purelink.cli.terminal import Terminal
from purelink.errors import PurelinkError


class SourceStage:
    s: Any  # the wizard's Session
    t: Terminal
    source: str | None
    openapi: str | None

    def stage_source(self) -> None:
        from purelink.wizard import UnknownSource

        self.t.say("\n[1/10] Source")
        if self.openapi:
            location, self.openapi = self.openapi, None
            return self._import(location)
        name, self.source = self.source, None
        while True:
            name = name or self.t.ask("Source (type to search; `openapi` to import a document; `ready` for a "
                                      "ready recipe)", self.s.state.source, completer=self._suggest)
            if not name:
                continue
            if name.lower() in ("openapi", "o"):
                return self._import(self.t.ask("OpenAPI document (file or URL)"))
            if name.lower() in ("ready", "r"):
                if self._ready():
                    return
                name = None  # not started: ask for the source again
                continue
            try:
                spec = self.s.choose_source(name)
            except UnknownSource as exc:
                self.t.say(f"  {exc.message}")
                for i, s in enumerate(exc.suggestions, 1):
                    self.t.say(f"  {i}) {s.label}")
                self.t.say("  o) import an OpenAPI document")
                self.t.say("  a) let the assistant find this API (you give its base URL and a key)")
                pick = self.t.ask("Choose a number, or type a name")
                if pick.lower() == "a":
                    return self._discover(name)
                name = exc.suggestions[int(pick) - 1].name if pick.isdigit() and 0 < int(pick) <= len(
                    exc.suggestions) else pick
                continue
            self.t.say(f"  {spec.label}")
            return

    def _ready(self) -> bool:
        """Start from a ready recipe of the library: its answers become the defaults of the stages after."""
        offered = self.s.ready_recipes()
        for i, ready in enumerate(offered, 1):
            self.t.say(f"  {i}) {ready.label}")
        pick = self.t.ask("Ready recipe (number or name)")
        name = offered[int(pick) - 1].name if pick.isdigit() and 0 < int(pick) <= len(offered) else pick
        try:
            ready = self.s.start_from(name)
        except PurelinkError as exc:
            self.t.say(f"  {exc.message} {exc.guidance or ''}")
            return False
        self.t.say(f"  started from {ready.name}: {', '.join(ready.streams)} from {self.s.spec.label}"
                   + (f"; check its settings ({', '.join(ready.needs)}) below" if ready.needs else ""))
        return True

    def _discover(self, name: str) -> None:
        """An API in no catalog and with no OpenAPI document: the assistant proposes a connector,
        probes it with the key, and corrects it from what went wrong; every round is shown."""
        from purelink.assistant import get_assistant
        from purelink.assistant.prefill import accept_source, discover_source

        assistant = get_assistant()
        self.t.say(f"  answering: {assistant.name}")
        base_url = self.t.ask("Base URL of the API (e.g. https://api.example.com/v2)")
        key = self.t.secret("API key or token (hidden; used only to probe)") or None

        def show(round_) -> None:
            verdict = "works" if round_.ok else (round_.problem or "; ".join(
                o.problem or "" for o in round_.outcomes if not o.ok) or "no proposal")
            self.t.say(f"  round {round_.number} ({round_.answered_by}): {verdict}")

        def find(hints: list[str]):
            return discover_source(self.s, name, base_url=base_url, key=key, hints=hints, assistant=assistant,
                                   on_round=show)
        hints: list[str] = []  # what the assistant asked for, given by the user, goes into its next try
        while (discovery := find(hints)).spec is None and discovery.question and len(hints) < 3:
            self.t.say(f"  {discovery.question}")
            if not (hint := self.t.ask("Hint: a collection's path (e.g. /tickets) or a line of the API's docs; "
                                       "Enter gives up", "")):
                break
            hints.append(hint)
        if discovery.spec is None:
            raise PurelinkError(f"No working connector was found for {name}.",
                                discovery.question or "Check the base URL and the key, or import an OpenAPI document.")
        self.t.say("  streams: " + ", ".join(s.name for s in discovery.spec.streams))
        if not self.t.yes("Use this connector?"):
            raise PurelinkError("Connector not accepted.", "Pick another source, or import an OpenAPI document.")
        spec = accept_source(self.s, discovery)
        self.t.say(f"  saved connectors/{spec.name}.yaml")

    def _suggest(self, text: str) -> list:
        return self.s.suggest_sources(text, 8)

    def _import(self, location: str) -> None:
        proposal = self.s.import_openapi(location)
        self.t.say(proposal.text())
        self.t.say("  (lines marked ? are guesses below 80%: each is asked now)")
        changes: dict[str, Any] = {}
        for g in proposal.questions():
            self.t.say(f"  ? {g.field}: {g.evidence}")
            reply = self.t.ask(f"{g.field} (Enter keeps {g.value!r})", "")
            if reply:
                changes[g.field] = _parse_value(reply)
            else:  # kept as shown: a path variable's value becomes the connector's default
                changes.update(proposal.kept([g]))
        name = self.t.ask("Name for this connector", proposal.spec.name)
        if name != proposal.spec.name:
            changes["name"] = name
        if not self.t.yes("Use these guesses?"):
            while True:
                edit = self.t.ask("Correction as field=value (e.g. customers.primary_key=id), "
                                  "empty when done")
                if not edit:
                    break
                field, _, value = edit.partition("=")
                changes[field.strip()] = _parse_value(value.strip())
        spec = self.s.confirm_import(changes)
        self.t.say(f"  saved connectors/{spec.name}.yaml")


def _parse_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return text
