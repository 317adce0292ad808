"""What the assistant answers: pydantic models, the same whether Gemini or the offline rules answered.

A `...Draft` class is what a model is asked to fill (it is the `response_schema` sent to Gemini);
the answer handed to the user adds `answered_by` ("Gemini (gemini-2.5-flash)" or "offline rules").
Nothing here is code: a proposed connector becomes a `ConnectorSpec` (data the codegen templates
read), a proposed recipe change is a list of edits whose values are JSON, applied to a `Recipe`
and validated again.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from purelink.catalog.spec import ConnectorSpec
from purelink.errors import PurelinkError
from purelink.recipes import Recipe, ValidationRule


class AssistantError(PurelinkError):
    """The assistant could not answer; `guidance` says what to do (often: use the offline one)."""


class KeyRejected(AssistantError):
    """Gemini refused GEMINI_API_KEY (400 API key invalid, 401, 403)."""


class QuotaExceeded(AssistantError):
    """Gemini answered 429 RESOURCE_EXHAUSTED after every retry."""


class AnswerBlocked(AssistantError):
    """Gemini withheld the answer (safety or another block reason)."""


class AssistantUnavailable(AssistantError):
    """No usable answer: server errors, timeouts or malformed JSON after every retry."""


class Draft(BaseModel):
    # Lenient on input (a model may add fields), strict on the fields we read.
    model_config = ConfigDict(extra="ignore")


# -- 1 intent -------------------------------------------------------------------------------------
class IntentDraft(Draft):
    source: str | None = Field(None, description="the source the user means: a catalog name if one fits, "
                               "else the name as the user wrote it")
    streams: list[str] = Field(default_factory=list, description="the streams (collections) the user names")
    frequency: Literal["once", "hourly", "daily"] | None = None
    history_start: str | None = Field(None, description="ISO date YYYY-MM-DD from which to load history")
    destination: Literal["duckdb", "postgres"] | None = None
    purpose: Literal["poc", "production"] | None = None
    notes: list[str] = Field(default_factory=list, description="anything unclear, in a short sentence each")

    @field_validator("history_start")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        return None if not value else date.fromisoformat(value[:10]).isoformat()


class Intent(IntentDraft):
    """Free text understood: what to prefill in the wizard."""

    answered_by: str


# -- 2 unknown APIs -------------------------------------------------------------------------------
class SourceRequest(BaseModel):
    """An API to find: its name, where it is (the user's base URL wins over any guess), and
    optional hints (stream names or paths the user knows, a line of its documentation)."""

    name: str
    base_url: str | None = None
    hints: list[str] = Field(default_factory=list)

    @property
    def connector_name(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_") or "api"
        return slug if slug[0].isalpha() else f"api_{slug}"


class AuthProposal(Draft):
    style: Literal["bearer", "header", "basic", "query", "none"] = "bearer"
    header: str | None = Field(None, description="header name for style=header, e.g. X-API-Key")
    prefix: str | None = Field(None, description="text before the key in that header, e.g. 'Token '")
    param: str | None = Field(None, description="query parameter for style=query, e.g. api_key")


class PaginationProposal(Draft):
    style: Literal["cursor", "next_url", "link_header", "page_number", "offset", "single page"]
    limit_param: str | None = Field(None, description="query parameter for the page size; null if none")
    page_size: int | None = Field(None, ge=1, le=1000)
    cursor_param: str | None = Field(None, description="cursor style: query parameter that takes the cursor")
    cursor_path: str | None = Field(None, description="cursor style: dotted path of the next cursor in the body")
    cursor_field: str | None = Field(None, description="cursor style: record field used as cursor when the "
                                     "cursor is the last record's id (then cursor_path is null)")
    has_more_path: str | None = Field(None, description="dotted path of a boolean 'more pages' flag")
    next_url_path: str | None = Field(None, description="next_url style: dotted path of the next page's URL")
    page_param: str | None = None
    offset_param: str | None = None

    def options(self) -> dict:
        """Keyword arguments of the runtime paginator class of `style` (`purelink.runtime.paginators`).
        An empty string means "none" where the runtime's default is not (codegen drops None)."""
        size = {"limit_param": self.limit_param or "", "page_size": self.page_size or 100}
        if self.style == "cursor":
            by_body = bool(self.cursor_path)
            return {"cursor_param": self.cursor_param or "cursor",
                    **({"cursor_path": self.cursor_path} if by_body else {"cursor_field": self.cursor_field or "id"}),
                    "has_more_path": self.has_more_path or (self.cursor_path if by_body else ""), **size}
        if self.style == "next_url":
            return {"next_url_path": self.next_url_path or "next", **size}
        if self.style == "link_header":
            return size
        if self.style == "page_number":
            return {"page_param": self.page_param or "page", **size}
        if self.style == "offset":
            return {"offset_param": self.offset_param or "offset", **size}
        return {}


class StreamProposal(Draft):
    name: str = Field(description="snake_case stream name, e.g. tickets")
    path: str = Field(description="path below the base URL, e.g. /tickets")
    description: str = ""
    records_path: str | None = Field(None, description="dotted path of the list of records in the body when it "
                                     "differs from the connector's; empty string for a top-level list")
    primary_key: str | None = "id"
    cursor_field: str | None = Field(None, description="field telling when a record last changed, e.g. updated_at")


class ConnectorProposal(Draft):
    title: str
    description: str = Field("", description="one line: what the API is for")
    base_url: str | None = Field(None, description="the API's base URL, e.g. https://api.example.com/v2")
    docs_url: str | None = None
    auth: AuthProposal = Field(default_factory=AuthProposal)
    pagination: PaginationProposal
    records_path: str = Field("", description="dotted path of the list of records in a page; '' for a list")
    rate_limit_per_second: float | None = Field(None, ge=0.01)  # (Gemini schemas know no exclusiveMinimum)
    streams: list[StreamProposal] = Field(min_length=1)
    explanation: str = Field("", description="why these choices, in two sentences at most")

    def to_spec(self, name: str, *, base_url: str | None = None) -> ConnectorSpec:
        """The connector spec this proposal describes (raises AssistantError when it is not one)."""
        from purelink.runtime.paginators import STYLES

        options = self.pagination.options()
        try:
            STYLES[self.pagination.style](**options)
        except (TypeError, ValueError) as exc:
            raise AssistantError(f"The proposed pagination is not usable: {exc}",
                                 "Ask for another proposal.") from None
        a = self.auth
        first = self.streams[0]
        limit = options.get("limit_param")
        data = {
            "name": name, "title": self.title, "category": "Proposed by the assistant",
            "description": (self.description or f"{self.title} (found by the assistant)")[:120],
            "docs_url": self.docs_url, "base_url": (base_url or self.base_url or "").rstrip("/") or None,
            "auth": {"style": a.style, "env": f"{name.upper()}_API_KEY", "header": a.header,
                     "prefix": a.prefix or "", "param": a.param},
            "health_check": {"path": first.path, "params": {limit: 1} if limit else {}},
            "rate_limit": {"requests_per_second": self.rate_limit_per_second},
            "pagination": {"style": self.pagination.style, **options},
            "records_path": self.records_path, "concurrency": 4,
            "streams": [{"name": s.name, "path": "/" + s.path.lstrip("/"), "description": s.description,
                         "primary_key": s.primary_key or None, "cursor_field": s.cursor_field,
                         **({"records_path": s.records_path} if s.records_path not in (None, self.records_path)
                            else {})} for s in self.streams],
        }
        try:
            return ConnectorSpec.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise AssistantError(f"The proposal is not a valid connector spec: {where}: {err['msg']}",
                                 "Ask for another proposal.") from None


class ProbeOutcome(BaseModel):
    """What a real request with the user's key made of one proposed stream."""

    stream: str
    ok: bool
    requests: list[str] = Field(default_factory=list)  # "GET /tickets?page_size=2 -> 200, 2 records"
    problem: str | None = None  # in words; this goes back to the model
    body_shape: str | None = None  # {"items": list of 2 objects, "next_cursor": string}
    fields: list[str] = Field(default_factory=list)
    records: int = 0
    pages: int = 0


class Round(BaseModel):
    """One propose-and-probe round, as shown to the user."""

    number: int
    answered_by: str
    spec: ConnectorSpec | None = None
    problem: str | None = None  # the proposal itself was unusable
    outcomes: list[ProbeOutcome] = Field(default_factory=list)
    guesses: list[str] = Field(default_factory=list)  # what the offline heuristics tried, in order
    explanation: str = ""

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.problem and bool(self.outcomes) and all(
            o.ok for o in self.outcomes)

    def text(self) -> str:
        head = f"Round {self.number} ({self.answered_by}): " + ("works" if self.ok else "failed")
        lines = [head]
        if self.explanation:
            lines.append(f"  why: {self.explanation}")
        lines += [f"  tried {g}" for g in self.guesses]
        if self.spec is not None:
            p = self.spec.pagination
            opts = ", ".join(f"{k}={v!r}" for k, v in (p.model_extra or {}).items())
            lines += [(f"  base URL {self.spec.base_url}, auth {self.spec.auth.style}, records at "
                      f"{self.spec.records_path or '(top level)'!r}"), f"  pagination {p.style} ({opts})"]
        if self.problem:
            lines.append(f"  problem: {self.problem}")
        for o in self.outcomes:
            lines.append(f"  {o.stream}: " + (f"ok, {o.records} records over {o.pages} page(s)" if o.ok
                                               else f"FAILED: {o.problem}"))
            lines += [f"    {r}" for r in o.requests]
        return "\n".join(lines)


class Discovery(BaseModel):
    """The rounds that took an unknown API from its name to a probed connector spec (or not)."""

    name: str
    base_url: str | None
    answered_by: str
    rounds: list[Round] = Field(default_factory=list)
    question: str | None = None  # what the assistant could not guess and asks the user

    @property
    def ok(self) -> bool:
        return bool(self.rounds) and self.rounds[-1].ok

    @property
    def spec(self) -> ConnectorSpec | None:
        return self.rounds[-1].spec if self.ok else None

    def text(self) -> str:
        verdict = (f"{self.spec.title}: {len(self.spec.streams)} stream(s) work after {len(self.rounds)} round(s)"
                   if self.ok else f"{self.name}: no working connector after {len(self.rounds)} round(s)")
        lines = [f"{verdict} (answered by {self.answered_by})", *(r.text() for r in self.rounds)]
        if self.question:
            lines.append(f"Question: {self.question}")
        return "\n".join(lines)


# -- 3 columns ------------------------------------------------------------------------------------
PiiKind = Literal["none", "email", "name", "phone", "address", "ip_address", "date_of_birth", "government_id",
                  "financial", "credential", "other"]
SENSITIVE: frozenset[str] = frozenset({"government_id", "financial", "credential"})  # not loaded by default


class ColumnNote(Draft):
    path: str = Field(description="the column's dotted path, exactly as given")
    description: str = Field(description="what the column holds, in a short phrase")
    pii: PiiKind = "none"
    validation: Literal["none", "email"] = Field("none", description="email: values must be email addresses")
    include: bool | None = Field(None, description="false to leave it out by default (secrets, identity numbers)")


class ColumnAdviceDraft(Draft):
    columns: list[ColumnNote]


class ColumnAdvice(ColumnAdviceDraft):
    stream: str
    answered_by: str

    def note(self, path: str) -> ColumnNote | None:
        return next((c for c in self.columns if c.path == path), None)

    @property
    def pii(self) -> list[str]:
        return [c.path for c in self.columns if c.pii != "none"]

    def default_columns(self, columns) -> list[str]:
        """The usual default selection (`purelink.discovery.columns.default_selection`) without sensitive
        personal data and what the advice excludes; a column the advice includes is added."""
        from purelink.discovery.columns import default_selection

        chosen = default_selection(columns)
        known = {c.path for c in columns}
        drop = {c.path for c in self.columns if c.pii in SENSITIVE or c.include is False}
        add = [c.path for c in self.columns if c.include and c.path in known and c.path not in chosen
               and c.pii not in SENSITIVE]
        return [p for p in [*chosen, *add] if p not in drop and not any(p.startswith(d + ".") for d in drop)]

    def validations(self, selected: list[str] | None) -> list[ValidationRule]:
        """Email-format rules for the loaded columns the advice says hold email addresses."""
        return [ValidationRule(kind="email", field=c.path) for c in self.columns
                if c.validation == "email" and (selected is None or c.path in selected)]


# -- 4 failures -----------------------------------------------------------------------------------
EDITABLE = re.compile(r"^(requirements\.(frequency|history_start|rate_limit|concurrency|lookback_s|purpose)"
                      r"|executor|streams\.[a-z0-9_]+(\.(columns|validations|max_bad_share))?)$")


class Edit(Draft):
    op: Literal["set", "remove"]
    path: str = Field(description="requirements.rate_limit, requirements.concurrency, executor, "
                      "streams.NAME (remove only), streams.NAME.columns, streams.NAME.validations or "
                      "streams.NAME.max_bad_share")
    value_json: str | None = Field(None, description="for set: the new value as JSON, e.g. 2 or [\"id\"]")


class RecipeChange(Draft):
    summary: str = Field(description="the change in one sentence")
    edits: list[Edit] = Field(min_length=1)

    def describe(self) -> list[str]:
        return [f"{e.op} {e.path}" + (f" = {e.value_json}" if e.op == "set" else "") for e in self.edits]

    def apply(self, recipe: Recipe) -> Recipe:
        """The recipe with the edits made (same version: saving makes the next one). Values are
        parsed as JSON, never evaluated; the result is validated as a Recipe."""
        data = recipe.model_dump(mode="json")
        streams = {s["name"]: s for s in data["streams"]}
        for edit in self.edits:
            if not EDITABLE.match(edit.path):
                raise AssistantError(f"The proposed change touches {edit.path!r}, which a change may not edit.",
                                     "Edit the recipe by hand, or ask again.")
            try:
                value = None if edit.op == "remove" else json.loads(edit.value_json or "null")
            except ValueError:
                raise AssistantError(f"The value for {edit.path} is not JSON: {edit.value_json!r}.",
                                     "Ask again.") from None
            parts = edit.path.split(".")
            if parts[0] == "streams":
                if parts[1] not in streams:
                    raise AssistantError(f"The recipe has no stream {parts[1]!r}.", "Ask again.")
                if len(parts) == 2:
                    if edit.op != "remove":
                        raise AssistantError("A stream can only be removed by a change.", "Ask again.")
                    data["streams"] = [s for s in data["streams"] if s["name"] != parts[1]]
                else:
                    target = streams[parts[1]]
                    defaults = {"columns": None, "validations": [], "max_bad_share": 0.05}
                    target[parts[2]] = defaults[parts[2]] if edit.op == "remove" else value
            elif parts[0] == "requirements":
                data["requirements"][parts[1]] = value
            else:
                data[parts[0]] = value if edit.op == "set" else "auto"
        try:
            return Recipe.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise AssistantError(f"The changed recipe is invalid: {'.'.join(map(str, err['loc']))}: {err['msg']}",
                                 "Edit the recipe by hand, or ask again.") from None


Cause = Literal["credentials", "permissions", "connectivity", "rate_limit", "validation", "records",
                "storage", "other"]


class FailureDraft(Draft):
    explanation: str = Field(description="what went wrong, in plain words for a data engineer, 1-3 sentences")
    cause: Cause = "other"
    next_step: str = Field(description="what the user should do, one sentence")
    change: RecipeChange | None = Field(None, description="a recipe change that fixes it, if one does")


class FailureExplanation(FailureDraft):
    answered_by: str

    def text(self) -> str:
        lines = [f"{self.explanation} (answered by {self.answered_by})", f"Next: {self.next_step}"]
        if self.change:
            lines += [f"Proposed change: {self.change.summary}", *(f"  {d}" for d in self.change.describe())]
        return "\n".join(lines)
