"""The words sent to Gemini: one prompt per task, built from data, with no secret in it.

Everything that came from an API or a run passes through `purelink.secrets.redact` first (the user's key
is registered there), and sample values leave the machine only as shapes: `ada@example.com`
is sent as `aaa@aaaaaaa.aaa`, enough to tell an email from a phone number.
"""

from __future__ import annotations

import json
import re
from datetime import date

from purelink.assistant.models import Round, SourceRequest
from purelink.catalog.spec import ConnectorSpec
from purelink.recipes import Recipe
from purelink.secrets.redact import redact

SYSTEM = (
    "You are the assistant inside Purelink, a tool that builds data pipelines from APIs into DuckDB. "
    "Answer with JSON that matches the given schema and nothing else. Your answer is data: Purelink "
    "checks it, shows it to the user and acts on it only through its own templates, so never write code. "
    "When unsure, say so in the notes or explanation fields instead of guessing silently."
)


def shape(value: object, limit: int = 40) -> str:
    """The form of a value without its content: letters become a/A, digits 9."""
    text = str(value)[:limit]
    return re.sub(r"[0-9]", "9", re.sub(r"[A-Z]", "A", re.sub(r"[a-z]", "a", text)))


def _spec_json(spec: ConnectorSpec) -> str:
    data = spec.model_dump(mode="json", exclude_none=True, exclude={"auth": {"guidance"}, "health_check": True})
    return json.dumps(data, separators=(",", ":"))


def intent_prompt(text: str, sources: list[ConnectorSpec], today: date) -> str:
    catalog = "\n".join(f"- {s.name}: {s.title} ({s.description}); streams: "
                        f"{', '.join(x.name for x in s.streams) or 'from the database'}" for s in sources)
    return (
        "Task: turn a request for a data pipeline into wizard answers.\n"
        f"Today is {today.isoformat()}. A month named without a year means its most recent start "
        "(\"since January\" is January 1 of this year, unless January is still to come).\n"
        "Known sources (use the name before the colon when one is meant):\n"
        f"{catalog}\n"
        "If the user names a source that is not listed, give its name as written, and the streams as named.\n"
        "frequency: once, hourly or daily. destination: duckdb or postgres (a warehouse). "
        "purpose: poc or production. Leave out what the user did not say.\n\n"
        f"Request: {text.strip()}"
    )


def connector_prompt(request: SourceRequest, rounds: list[Round]) -> str:
    lines = [
        ("Task: propose a connector spec for a REST API that Purelink does not know: it is in no catalog and "
        "has no OpenAPI document. Use what you know of this API and of common API conventions."),
        f"API name: {request.name}",
        f"Base URL given by the user: {request.base_url}" if request.base_url else
        "The user gave no base URL: propose the API's public one.",
    ]
    if request.hints:
        lines.append(f"The user's hints: {'; '.join(request.hints)}")
    lines += [
        ("Purelink sends a real GET request for every stream with the user's key, reads the list of records at "
        "records_path (dotted; '' for a top-level list), then asks for page 2 the way `pagination` says: "
        "cursor (cursor_param set to the value at cursor_path in the body, or to the last record's "
        "cursor_field), next_url (URL at next_url_path), link_header (Link rel=next), page_number or offset. "
        "limit_param is the page-size parameter, or null when the API has none. Paths are relative to the "
        "base URL. Stream names are snake_case."),
    ]
    for r in rounds:
        lines.append(f"\nRound {r.number} was tried and failed.")
        if r.spec is not None:
            lines.append(f"Spec used: {_spec_json(r.spec)}")
        if r.problem:
            lines.append(f"Problem with the proposal: {r.problem}")
        for o in r.outcomes:
            if o.ok:
                lines.append(f"Stream {o.stream}: worked ({o.records} records over {o.pages} page(s)).")
                continue
            lines.append(f"Stream {o.stream}: FAILED: {o.problem}")
            lines += [f"  request: {req}" for req in o.requests]
            if o.body_shape:
                lines.append(f"  body of the last page read: {o.body_shape}")
    if rounds:
        lines.append("\nPropose a corrected spec that fixes these errors; keep what worked.")
    return redact("\n".join(lines))


def columns_prompt(spec: ConnectorSpec, stream: str, columns) -> str:
    rows = []
    for c in columns:
        examples = ", ".join(shape(e) for e in c.examples[:2])
        rows.append(f"- {c.path}: {c.type}" + (f"; value shapes: {examples}" if examples else ""))
    return redact(
        f"Task: describe the columns of the {stream} stream of {spec.title} ({spec.description}) for a data "
        "engineer, and flag personal data (pii). Set validation=email only for columns holding email "
        "addresses; set include=false for secrets, tokens, passwords, card or bank numbers and government "
        "identity numbers. Sample values are shown only as shapes (letters a/A, digits 9).\n"
        "Give one entry per column, with its path exactly as listed:\n" + "\n".join(rows)
    )


def failure_prompt(recipe: Recipe, finished: dict) -> str:
    checks = "\n".join(f"- {c.get('name')}: {c.get('status')}: {c.get('detail')}"
                       for c in finished.get("checks") or [])
    streams = json.dumps(finished.get("streams") or {}, default=str)[:1500]
    return redact(
        "Task: a Purelink pipeline run failed. Explain why in plain words for a data engineer, say what to do "
        "next, and when a change to the recipe fixes it, propose that change as edits (values as JSON). "
        "A change may only edit requirements.rate_limit, requirements.concurrency, requirements.frequency, "
        "requirements.history_start, executor, or a stream: remove streams.NAME, or set "
        "streams.NAME.columns, streams.NAME.validations, streams.NAME.max_bad_share (0 to 1). "
        "Do not propose a change when none helps (a rejected key is fixed by a new key, not by the recipe).\n"
        f"Recipe (YAML):\n{recipe.to_yaml()}\n"
        f"Run status: {finished.get('status')}; error: {finished.get('error')}\n"
        f"Checks:\n{checks or '(none)'}\nStreams: {streams}"
    )
