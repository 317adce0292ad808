"""Pipeline design: a pure function from recipe + connector spec (+ probed schema) to a plan.

    plan = design(recipe, spec, schema={"customers": probe.columns})
    plan.streams[0].validations     # [required id]: what the run applies
    plan.streams[0].suggested       # [email format of email]: offered, applied only once chosen
    print(plan.text())              # what the user reads before the code is generated

No I/O and no clock: the same inputs give the same plan, so the wizard, the terminal agent and
the tests all see one strategy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from purelink.catalog.spec import ConnectorSpec, StreamSpec
from purelink.discovery.probe import Column
from purelink.recipes import Recipe, StreamChoice, ValidationRule
from purelink.runtime.retry import RETRYABLE_STATUS, RetryPolicy

EMAIL_LIKE = re.compile(r"(^|_)e-?mail(_address)?$", re.IGNORECASE)
CRON = {"hourly": "0 * * * *", "daily": "0 3 * * *"}
DEFAULT_START = "2010-01-01"  # the runtime's start when no history start is given
NARROWING = ("a later version that loads fewer columns: a --full-refresh drops the columns no longer "
             "chosen; an incremental run keeps their old values; both are recorded in _purelink.schema_changes")
INSERT_ONLY = re.compile(r"^(created|created_at|createdAt|CreatedDate|inserted_at)$")


class StreamPlan(BaseModel):
    name: str
    table: str  # schema.table
    primary_key: list[str]
    strategy: str  # "incremental" or "full"
    cursor: str | None = None
    incremental: str  # the sentence the user reads
    pagination: str
    write: str
    validations: list[ValidationRule] = Field(default_factory=list)
    # Checks offered but not applied: a format check sends failing rows to dead letters, so it
    # is the user's choice (unticked by default), never the plan's.
    suggested: list[ValidationRule] = Field(default_factory=list)
    indexes: list[str] = Field(default_factory=list)
    columns: list[str] | None = None
    notes: list[str] = Field(default_factory=list)


class Plan(BaseModel):
    recipe: str
    source: str
    purpose: str
    frequency: str
    rate_limit: float | None
    rate_limit_note: str
    concurrency: int
    retries: str
    storage: str
    streams: list[StreamPlan]
    batching: str
    schedule: str | None = None
    production: list[str] = Field(default_factory=list)

    def stream(self, name: str) -> StreamPlan:
        return next(s for s in self.streams if s.name == name)

    def text(self) -> str:
        """The plan as a person reads it."""
        rate = f"{self.rate_limit:g} requests/s" if self.rate_limit else "no fixed limit"
        lines = [f"Plan for {self.recipe} ({self.purpose.upper()}, {self.frequency})",
                 f"  rate limit   {rate}, {self.concurrency} parallel requests; {self.rate_limit_note}",
                 f"  retries      {self.retries}",
                 f"  storage      {self.storage}",
                 f"  batching     {self.batching}",
                 f"  columns      {NARROWING}"]
        for s in self.streams:
            checks = ", ".join(f"{v.field}: {'required' if v.kind == 'required' else v.kind + ' format'}"
                               for v in s.validations) or "none"
            cols = "all fields" if s.columns is None else f"{len(s.columns)} columns"
            lines += [f"  {s.name} -> {s.table} ({cols})",
                      f"    extraction  {s.incremental}",
                      f"    pagination  {s.pagination}",
                      f"    writes      {s.write}",
                      f"    validations {checks}"]
            if s.suggested:
                offered = ", ".join(f"{v.field}: {v.kind} format" for v in s.suggested)
                lines.append(f"    suggested   {offered} (not applied unless you choose it: failing rows "
                             "would go to _purelink.dead_letters)")
            lines.append(f"    indexes     {'; '.join(s.indexes)}")
            lines += [f"    note        {n}" for n in s.notes]
        if self.production:
            lines.append("  production")
            lines += [f"    - {p}" for p in self.production]
        return "\n".join(lines)


def describe_pagination(spec: ConnectorSpec, stream: StreamSpec) -> str:
    p = stream.pagination or spec.pagination
    o = p.model_extra or {}
    size = f", {o['page_size']} per page" if o.get("page_size") else ""
    if p.style == "cursor":
        if o.get("cursor_path"):
            where = f"the body's {o['cursor_path']}"
        else:
            where = f"the last record's {o.get('cursor_field', 'id')}"
        flag = o.get("has_more_path", "has_more")
        more = f" while {flag} is true" if flag else ""
        return f"cursor: {o.get('cursor_param', 'starting_after')} from {where}{more}{size}"
    if p.style == "next_url":
        return f"next-page URL from the body's {o.get('next_url_path', 'next')}{size}"
    if p.style == "link_header":
        return f"Link header (rel=next){size}"
    if p.style == "page_number":
        return f"page number ({o.get('page_param', 'page')}){size}, until a short page"
    if p.style == "offset":
        return f"offset ({o.get('offset_param', 'offset')}){size}, until a short page"
    return "a single request per sync"


def suggest_validations(stream: StreamSpec, choice: StreamChoice,
                        columns: Sequence[Column] | None) -> tuple[list[ValidationRule], list[ValidationRule]]:
    """(applied, offered): the recipe's own checks plus required for the primary key (a record
    without its key can never be merged); email format for email-like fields, offered only."""
    existing = {(v.kind, v.field) for v in choice.validations}
    required = [ValidationRule(kind="required", field=k) for k in _key(stream)]
    applied = [*choice.validations, *(r for r in required if (r.kind, r.field) not in existing)]
    if choice.columns is not None:
        candidates = list(choice.columns)
    else:
        candidates = [c.path for c in columns or [] if not c.nested]
    offered = [ValidationRule(kind="email", field=path) for path in candidates
               if EMAIL_LIKE.search(path.rsplit(".", 1)[-1]) and ("email", path) not in existing]
    return applied, offered


def _key(stream: StreamSpec) -> list[str]:
    pk = stream.primary_key
    return [] if not pk else [pk] if isinstance(pk, str) else list(pk)


def _extraction(stream: StreamSpec, recipe: Recipe,
                concurrency: int) -> tuple[str, str | None, str, list[str]]:
    req, tf, notes = recipe.requirements, stream.time_filter, []
    if tf is None:
        cursor = stream.cursor_field
        why = f"the API has no filter on {cursor}" if cursor else "the API has no time filter"
        return "full", None, (f"full: {why}, so every run reads the whole stream and merges it "
                               "(records deleted at the source are not removed)"), notes
    start = req.history_start or DEFAULT_START
    bounds = f"{tf.gte} / {tf.lt}" if tf.lt else f"{tf.gte} (lower bound only: one window)"
    windows = f"cut into {concurrency} parallel time windows" if tf.lt else "read as one window"
    text = (f"incremental on {tf.field}: the first run loads from {start}, {windows} ({bounds}); "
            f"later runs start at the saved cursor minus {req.lookback_s} s of lookback")
    notes.append("deletes are not mirrored: a record deleted at the source stays in the table "
                 "(a --full-refresh rebuilds it from what the source still has)")
    if INSERT_ONLY.match(tf.field):
        notes.append(f"{tf.field} is set once, so changes to older records are not picked up; "
                     "schedule a periodic --full-refresh if updates matter")
    return "incremental", tf.field, text, notes


def retries_text() -> str:
    policy = RetryPolicy()
    codes = ", ".join(map(str, sorted(RETRYABLE_STATUS)))
    return (f"up to {policy.max_attempts} attempts, exponential backoff with full jitter "
            f"({policy.base_delay_s:g} s doubling, at most {policy.max_delay_s:g} s), honouring Retry-After "
            "and Stripe-Should-Retry; "
            f"{codes} and dropped connections are retried; 401 and 403 stop the stream")


def design(recipe: Recipe, spec: ConnectorSpec, schema: Mapping[str, Sequence[Column]] | None = None) -> Plan:
    """The plan for a recipe: extraction, rate limit, pagination, retries, validations, storage,
    indexes, and the production extras when `recipe.requirements.purpose` is production."""
    req, dest = recipe.requirements, recipe.destination
    rate = req.rate_limit or spec.rate_limit.requests_per_second
    if req.rate_limit:
        rate_note = "set in the recipe"
    elif rate:
        rate_note = spec.rate_limit.notes or "the connector's documented limit"
    else:
        rate_note = "none documented; 429 answers and Retry-After are honoured"
    if rate and spec.rate_limit.burst_s:
        rate_note = f"{rate_note}; after a pause, {spec.rate_limit.burst_s:g} s of requests at once"
    concurrency = req.concurrency or spec.concurrency
    if dest.kind == "duckdb":
        storage = (f"DuckDB file {dest.path or 'data/purelink.duckdb'}, schema {spec.name}, "
                   "one table per stream")
    else:
        storage = (f"PostgreSQL {dest.url or '(connection URL not set)'}, "
                   f"schema {dest.schema_name or spec.name}")
    streams = []
    for choice in recipe.streams:
        s = spec.stream(choice.name)
        key = _key(s)
        strategy, cursor, text, notes = _extraction(s, recipe, concurrency)
        columns = (schema or {}).get(choice.name)
        heavy = [c.path for c in columns or []
                 if c.heavy and (choice.columns is None or c.path in choice.columns)]
        if heavy:
            notes.append(f"{', '.join(heavy)} may slow extraction (nested lists of objects)")
        if dest.kind == "duckdb":
            indexes = [(f"none: DuckDB's zone maps prune scans on {cursor or 'any column'}, and an index on "
                       f"{', '.join(key) or 'a key'} would slow the bulk merges")]
        else:
            indexes = [f"PRIMARY KEY ({', '.join(key)})" if key else "no primary key"]
            indexes += [f"btree on ({cursor})"] if cursor else []
        write = (f"merge on {', '.join(key)}: a replayed page replaces its rows, in the same transaction as "
                 "the cursor state" if key else "append: no primary key, so a replay can duplicate rows")
        applied, offered = suggest_validations(s, choice, columns)
        streams.append(StreamPlan(
            name=choice.name, table=f"{spec.name}.{s.name}", primary_key=key, strategy=strategy,
            cursor=cursor,
            incremental=text, pagination=describe_pagination(spec, s), write=write,
            validations=applied, suggested=offered, indexes=indexes, columns=choice.columns,
            notes=notes))
    page = (spec.pagination.model_extra or {}).get("page_size")
    batching = (f"each page ({page or 'as the API sends it'} records) is committed with its state in one "
                "transaction, several pages at once when they arrive together")
    production = []
    if req.purpose == "production":
        production = [
            ("structured JSON logs: every event and log line carries the run id as correlation id "
            "(logs/execution_YYYYMMDD.log)"),
            ("dead-letter table _purelink.dead_letters: records failing validation are kept with the reason; "
            f"a stream fails when more than {recipe.streams[0].max_bad_share:.0%} of its records do"),
            "executions recorded in _purelink.executions; schema changes in _purelink.schema_changes",
            "exit status non-zero on failure, for the scheduler's alerting",
        ]
        if recipe.executor != "local":
            production.append("runs isolated in a container (Docker executor)")
    schedule = CRON.get(req.frequency)
    if schedule:
        production.append(f"schedule {req.frequency}: `purelink schedule {recipe.name} --{req.frequency}` installs the "
                          f"cron entry ({schedule}) that runs purelink recipes run {recipe.name} under a lock")
    return Plan(recipe=recipe.name, source=spec.name, purpose=req.purpose, frequency=req.frequency,
                rate_limit=rate, rate_limit_note=rate_note, concurrency=concurrency,
                retries=retries_text(),
                storage=storage, streams=streams, batching=batching, schedule=schedule, production=production)
