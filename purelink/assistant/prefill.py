"""The assistant's answers applied to a wizard `Session` (`purelink.wizard`), through its public API.

    p = prefill(session, "stripe customers since January, daily")   # source, streams, requirements
    p.unknown_source                                                  # "Acme Tickets": not in any catalog
    d = discover_source(session, "Acme Tickets", base_url=url, key=key, on_round=show)
    accept_source(session, d)              # saved as connectors/acme_tickets.yaml, chosen as the source
    advise_columns(session)                # descriptions, PII flags -> default columns, email checks
    e = explain_failure(session)           # a failed test in plain words + a proposed recipe change
    accept_change(session, e)              # the next recipe version, its module from the templates

Each answer says who answered (`answered_by`); nothing is applied that the user has not seen:
a discovery is only used once accepted, a recipe change only once accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from purelink.assistant import get_assistant
from purelink.assistant.intent_rules import find_source, stream_matches
from purelink.assistant.models import (
    AssistantError,
    ColumnAdvice,
    Discovery,
    FailureExplanation,
    Intent,
    Round,
    SourceRequest,
)
from purelink.assistant.repair import discover
from purelink.catalog import spec as specs
from purelink.catalog.spec import ConnectorSpec
from purelink.recipes import Recipe


@dataclass
class Prefill:
    """What an intent filled in, and what it could not."""

    intent: Intent
    applied: list[str] = field(default_factory=list)
    unknown_source: str | None = None  # named, but in no catalog: `discover_source` can look for it
    unmatched_streams: list[str] = field(default_factory=list)

    @property
    def answered_by(self) -> str:
        return self.intent.answered_by

    def text(self) -> str:
        lines = [f"Understood by {self.answered_by}: " + ("; ".join(self.applied) or "nothing to prefill")]
        if self.unknown_source:
            lines.append(f"{self.unknown_source} is not in the catalog: the assistant can look for its API "
                         "(give its base URL and a key).")
        if self.unmatched_streams:
            lines.append(f"No stream named {', '.join(self.unmatched_streams)}: choose among the listed ones.")
        lines += [f"Note: {n}" for n in self.intent.notes]
        return "\n".join(lines)


def _sources(session) -> list[ConnectorSpec]:
    return list({**specs.workspace_specs(session.workspace.root), **specs.catalog()}.values())


def prefill(session, text: str, *, assistant=None, today: date | None = None) -> Prefill:
    """Understand `text` and fill the source, streams and requirements it names."""
    assistant = assistant or get_assistant()
    return apply_intent(session, assistant.intent(text, sources=_sources(session), today=today))


def apply_intent(session, intent: Intent) -> Prefill:
    """Fill the session from an intent; names are matched against the catalog and the workspace's
    connectors here, whoever produced the intent."""
    result = Prefill(intent)
    spec = None
    if intent.source:
        spec = find_source(intent.source.lower().replace("_", " ").split(), _sources(session))
        if spec is None:
            result.unknown_source = intent.source
        else:
            session.choose_source(spec.name)
            result.applied.append(f"source {spec.title}")
    elif session.state.source:
        spec = session.spec
    if spec is not None and intent.streams:
        chosen = []
        for name in intent.streams:
            found = stream_matches(name.lower().strip(), spec)
            (chosen.append(found) if found else result.unmatched_streams.append(name))
        if chosen:
            session.choose_streams(list(dict.fromkeys(chosen)))
            result.applied.append(f"streams {', '.join(dict.fromkeys(chosen))}")
    asked = {"frequency": intent.frequency, "history_start": intent.history_start,
             "destination": intent.destination, "purpose": intent.purpose}
    asked = {k: v for k, v in asked.items() if v}
    if asked:
        session.set_requirements(**asked)
        words = {"frequency": "runs {}", "history_start": "history from {}", "destination": "into {}",
                 "purpose": "purpose {}"}
        result.applied += [words[k].format(v) for k, v in asked.items()]
    return result


def discover_source(session, name: str, *, base_url: str | None, key: str | None, hints: Iterable[str] = (),
                    assistant=None, on_round: Callable[[Round], None] | None = None) -> Discovery:
    """Propose, probe and correct a connector for an API in no catalog (see `purelink.assistant.repair`)."""
    request = SourceRequest(name=name, base_url=base_url, hints=list(hints))
    return discover(request, key, assistant=assistant, on_round=on_round)


def accept_source(session, discovery: Discovery) -> ConnectorSpec:
    """The user's yes: save the working spec as `connectors/NAME.yaml` and choose it as the source."""
    from purelink.catalog.openapi import save_spec

    spec = discovery.spec
    if spec is None:
        raise AssistantError(f"No round found a working connector for {discovery.name}.",
                             discovery.question or "Give a hint and try again.")
    origin = (f"the assistant ({discovery.answered_by}, {len(discovery.rounds)} round(s), probed against "
              f"{spec.base_url})")
    save_spec(spec, session.workspace.root, origin=origin)
    session.choose_source(spec.name)
    session.state.imported_from = f"assistant: {discovery.answered_by}"
    session.save()
    return spec


def advise_columns(session, streams: Iterable[str] | None = None, *, assistant=None) -> dict[str, ColumnAdvice]:
    """Describe each sampled stream's columns and flag personal data; choose the default columns
    (no secrets or identity numbers) and add email-format checks to the plan's validations."""
    assistant = assistant or get_assistant()
    advice: dict[str, ColumnAdvice] = {}
    for name in streams or session.state.streams:
        probe = session.probe_of(name)
        advice[name] = assistant.describe_columns(session.spec, name, probe.columns)
        session.choose_columns(name, advice[name].default_columns(probe.columns))
    plan = session.plan()  # the session keeps this plan object until an answer changes upstream
    for name, a in advice.items():
        rules = plan.stream(name).validations
        known = {(v.kind, v.field) for v in rules}
        rules += [v for v in a.validations(session.state.columns.get(name)) if (v.kind, v.field) not in known]
    return advice


def explain_failure(session, finished: dict | None = None, *, assistant=None) -> FailureExplanation:
    """Explain the given `finished` event, else the session's failed full run, else its failed test."""
    st = session.state
    if finished is None:
        failed = [x for x in (st.run, st.test) if x and x.get("status") not in (None, "success")]
        if not failed:
            raise AssistantError("There is no failed run to explain.", "Run the test first.")
        finished = failed[0]
    assistant = assistant or get_assistant()
    return assistant.explain_failure(session.recipe(), finished)


def accept_change(session, explanation: FailureExplanation) -> Recipe:
    """The user's yes to a proposed change: the next recipe version, saved, and its module
    generated from the templates; the session follows it, and the test must pass again."""
    if explanation.change is None:
        raise AssistantError("This explanation proposes no recipe change.", explanation.next_step)
    recipe = explanation.change.apply(session.recipe())
    saved = session.engine.recipes.save(recipe)
    module = session.engine.generate(saved)
    st = session.state
    st.recipe_version, st.module = saved.version, str(module)
    st.streams = [s.name for s in saved.streams]
    st.columns = {s.name: s.columns for s in saved.streams}
    st.probed = [s for s in st.probed if s in st.streams]
    st.requirements, st.executor = saved.requirements, saved.executor
    st.test, st.run, st.done = None, None, False
    if st.stage in ("run", "result"):
        st.stage = "test"
    session.save()
    return saved
