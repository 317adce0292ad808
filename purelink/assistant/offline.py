"""The offline assistant: the same four answers as Gemini's, from rules, the catalog and real requests.

Used when no `GEMINI_API_KEY` is set. Free text goes through `intent_rules`; an unknown API is
explored with requests (`explore`); columns are described and flagged as personal data by their
names and the shape of their values; a failed run is explained from its checklist and error.
Every answer says `answered_by="offline rules"`.
"""

from __future__ import annotations

import json
import re
from datetime import date

from purelink.assistant import explore, intent_rules
from purelink.assistant.models import (
    ColumnAdvice,
    ColumnNote,
    ConnectorProposal,
    Edit,
    FailureExplanation,
    Intent,
    RecipeChange,
    Round,
    SourceRequest,
)
from purelink.catalog.spec import ConnectorSpec
from purelink.recipes import Recipe

PERSON_STREAMS = re.compile(r"(user|customer|contact|agent|people|person|member|employee|lead|subscriber|"
                            r"requester|assignee|owner|author|patient|student)", re.IGNORECASE)
PII_RULES = [  # (pii kind, pattern on the column's last part)
    ("email", re.compile(r"(^|_)e-?mail(_address)?$", re.IGNORECASE)),
    ("phone", re.compile(r"(phone|mobile|fax|^tel$|telephone)", re.IGNORECASE)),
    ("ip_address", re.compile(r"(^|_)ip(_address)?$|^last_ip|remote_addr", re.IGNORECASE)),
    ("date_of_birth", re.compile(r"(birth|^dob$|birthday)", re.IGNORECASE)),
    ("government_id", re.compile(r"(ssn|social_security|national_id|passport|tax_id|vat_number|driver_licen)",
                                 re.IGNORECASE)),
    ("financial", re.compile(r"(card_number|^pan$|iban|account_number|routing_number|cvc|cvv)", re.IGNORECASE)),
    ("credential", re.compile(r"(password|passwd|secret|token|api_key|apikey|private_key)", re.IGNORECASE)),
    ("address", re.compile(r"(address|street|line[12]$|postal_code|zip(_code)?$)", re.IGNORECASE)),
    ("name", re.compile(r"^(first_?name|last_?name|full_?name|given_name|family_name|surname)$", re.IGNORECASE)),
]
EMAIL_VALUE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
# a person's role (metadata.account_manager: "Lena"); flagged as a name when its values look like one
PERSON_ROLE = re.compile(r"(^|_)(manager|owner|rep|representative|agent|assignee|salesperson|contact|advisor|"
                         r"author|reviewer|approver)(_name)?$", re.IGNORECASE)
NAME_VALUE = re.compile(r"^[A-Z][\w'.-]*( [A-Z][\w'.-]*){0,3}$")
WORDS = {"id": "unique identifier", "created_at": "when it was created", "created": "when it was created",
         "updated_at": "when it last changed", "updated": "when it last changed", "status": "current status",
         "name": "name", "email": "email address", "description": "free-text description", "type": "kind",
         "tags": "labels", "priority": "priority", "subject": "subject line", "domain": "web domain",
         "currency": "currency code", "amount": "amount"}


class OfflineAssistant:
    """Rules, the catalog and requests; see the module docstring."""

    name = "offline rules"

    def __init__(self, note: str | None = None) -> None:
        self.note = note  # why the offline assistant answers although a key is set, if it does

    def intent(self, text: str, *, sources: list[ConnectorSpec], today: date | None = None) -> Intent:
        draft = intent_rules.parse(text, sources, today=today or date.today())
        return Intent(**draft.model_dump(), answered_by=self.name)

    def propose_connector(self, request: SourceRequest, rounds: list[Round],
                          explorer: explore.Explorer) -> ConnectorProposal | None:
        return explore.propose(request, rounds, explorer)

    def describe_columns(self, spec: ConnectorSpec, stream: str, columns) -> ColumnAdvice:
        person_stream = bool(PERSON_STREAMS.search(stream))
        notes = [column_note(c, person_stream) for c in columns]
        return ColumnAdvice(columns=notes, stream=stream, answered_by=self.name)

    def explain_failure(self, recipe: Recipe, finished: dict) -> FailureExplanation:
        return explain(recipe, finished, self.name)


def column_note(column, person_stream: bool) -> ColumnNote:
    leaf = column.path.rsplit(".", 1)[-1]
    parent = column.parent or ""
    kind = next((k for k, pattern in PII_RULES if pattern.search(leaf)), "none")
    if kind == "none" and parent and re.search(r"(address|billing|shipping)", parent, re.IGNORECASE):
        kind = "address"
    if kind == "none" and leaf.lower() == "name" and (PERSON_STREAMS.search(parent) or (person_stream and not parent)):
        kind = "name"
    values = [e for e in column.examples if e]
    if kind == "none" and PERSON_ROLE.search(leaf) and values and \
            all(NAME_VALUE.match(e.strip('"')) and not any(ch.isdigit() for ch in e) for e in values):
        kind = "name"
    looks_email = bool(values) and all(EMAIL_VALUE.match(e.strip('"')) for e in values)
    if looks_email and kind == "none":
        kind = "email"
    what = WORDS.get(leaf.lower(), leaf.replace("_", " "))
    owner = f" of the {parent.replace('.', ' ')}" if parent else ""
    email_rule = kind == "email" and not column.nested and "VARCHAR" in column.type
    include = None  # the column groups decide
    if kind in ("government_id", "financial", "credential"):
        include = False
    elif kind in ("email", "name") and PERSON_STREAMS.search(parent):  # requester.email: who it is about
        include = True
    return ColumnNote(path=column.path, description=f"{what}{owner} ({column.type.lower()})", pii=kind,
                      validation="email" if email_rule else "none", include=include)


def run_cause(finished: dict) -> dict:
    """The run's structured cause (see purelink.runtime.causes): the run's own, else its first
    failed stream's; an empty dict when the run gave none (a test run's checklist says more)."""
    if finished.get("cause"):
        return finished["cause"]
    streams = finished.get("streams") or {}
    return next((s["cause"] for s in streams.values() if s.get("cause")), {})


def explain(recipe: Recipe, finished: dict, answered_by: str) -> FailureExplanation:
    """A failed run's checklist and structured cause, in plain words, with a recipe change when one
    helps. Reads fields (cause kind, HTTP status, counts, check names), never the message text."""
    checks = {c.get("name"): c for c in finished.get("checks") or []}
    failed = {n: c for n, c in checks.items() if c.get("status") == "FAIL"}
    cause = run_cause(finished)
    kind, status = cause.get("kind"), cause.get("status")
    error = str(cause.get("message") or finished.get("error") or "")
    streams = finished.get("streams") or {}

    def answer(explanation: str, cause: str, next_step: str, change: RecipeChange | None = None):
        return FailureExplanation(explanation=explanation, cause=cause, next_step=next_step, change=change,
                                  answered_by=answered_by)

    if "credentials" in failed or status == 401:
        return answer("The API rejected the key, so nothing could be read.", "credentials",
                      "Enter the key again (a live key, not revoked, for this account); the recipe is fine.")
    if "connectivity" in failed or kind in ("api_unreachable", "source_database"):
        detail = failed.get("connectivity", {}).get("detail") or error
        return answer(f"The source could not be reached: {detail}", "connectivity",
                      cause.get("guidance") or "Check the base URL and the network, then run the test again.")
    if "permissions" in failed or status == 403:
        detail = failed["permissions"].get("detail", "") if "permissions" in failed else ""
        names = {s.name for s in recipe.streams}
        denied = [d for d in re.findall(r"[a-z0-9_]+", detail.split("to", 1)[-1]) if d in names]
        if cause.get("stream") in names and cause["stream"] not in denied:
            denied.append(cause["stream"])
        change = None
        if denied and len(denied) < len(recipe.streams):
            change = RecipeChange(summary=f"Stop loading {', '.join(denied)}, which this key may not read.",
                                  edits=[Edit(op="remove", path=f"streams.{d}") for d in denied])
        return answer(f"The key may not read {', '.join(denied) or 'some streams'} (403), so the test failed "
                      "although the other streams were readable.", "permissions",
                      "Accept the change to load only what the key may read, or use a key with more access.", change)
    if kind == "validation":
        dead, total, name = int(cause["rejected"]), int(cause["total"]), cause["stream"]
        share = dead / total
        choice = next((s for s in recipe.streams if s.name == name), None)
        if choice is not None and share > 0.5 and choice.validations:
            kept = [v.model_dump(mode="json", exclude_none=True) for v in choice.validations if v.kind == "required"]
            change = RecipeChange(summary=f"Drop the format checks of {name}: most records fail them, so they "
                                  "do not fit this data.", edits=[Edit(op="set", path=f"streams.{name}.validations",
                                                                       value_json=json.dumps(kept))])
        else:
            limit = min(1.0, round(share + 0.05, 2))
            change = RecipeChange(summary=f"Allow up to {limit:.0%} of {name} records to fail validation "
                                  "(they stay in _purelink.dead_letters).",
                                  edits=[Edit(op="set", path=f"streams.{name}.max_bad_share", value_json=str(limit))])
        return answer(f"{dead} of {total} {name} records ({share:.0%}) failed a validation, more than the share "
                      "allowed, so the run was marked failed. The failing records are in _purelink.dead_letters.",
                      "validation", "Look at the reasons in _purelink.dead_letters, then accept the change or "
                      "fix the data at the source.", change)
    if status == 429 or finished.get("throttled"):
        current = recipe.requirements.rate_limit or 5.0
        change = RecipeChange(summary="Send fewer requests per second and one at a time.",
                              edits=[Edit(op="set", path="requirements.rate_limit", value_json=str(max(0.5, current / 2))),
                                     Edit(op="set", path="requirements.concurrency", value_json="1")])
        return answer("The API kept answering 429 (too many requests).", "rate_limit",
                      "Accept the lower rate limit and run again.", change)
    if kind == "destination":
        return answer(f"The records could not be written to the database: {error}", "storage",
                      cause.get("guidance") or "Check the destination, then run again.")
    if "sample records" in failed or (kind == "api_error" and status is not None and status < 300):
        return answer("The API answered without a list of records where the connector expects one.", "records",
                      "The connector spec's records path is wrong for this API: correct the spec, not the recipe.")
    if "storage writes" in failed or "type conversion" in failed:
        detail = (failed.get("type conversion") or failed.get("storage writes") or {}).get("detail", error)
        return answer(f"The records could not be written to the database: {detail}.", "storage",
                      "Deselect the column named in the error (or check the database path), then test again.")
    broken = [n for n, s in streams.items() if s.get("status") == "failed"]
    return answer(f"The run failed{' on ' + ', '.join(broken) if broken else ''}: {error or 'no error was given'}",
                  "other", cause.get("guidance") or "Read the run's log in logs/ for the details, then test again.")
