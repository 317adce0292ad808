"""What a `Session` keeps and hands back: its saved state, the answers of each stage, and the
control of a run under way. Plain data a UI renders; no I/O except `RunControl`'s thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from purelink.errors import PurelinkError, SourceError
from purelink.recipes import DestinationChoice, Recipe, Requirements, ValidationRule

if TYPE_CHECKING:
    from purelink.execution.jobs import Run

Stage = Literal["source", "streams", "requirements", "credentials", "schema", "design", "generate", "test",
                "run", "result"]
STAGES: tuple[str, ...] = Stage.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StoreOption:
    """One store the storage stage offers: how its URL looks and which key it needs, where to get it."""

    kind: str
    label: str
    example: str
    key: str  # what goes to the vault ("" when none)
    guidance: str


STORES: tuple[StoreOption, ...] = (
    StoreOption("duckdb", "DuckDB (local file)", "duckdb:data/purelink.duckdb", "",
                "No key: a file in the workspace's data/ folder."),
    StoreOption("postgres", "PostgreSQL warehouse", "postgresql://etl@warehouse:5432/analytics?schema=raw",
                "the database user's password",
                "The URL without the password; the password goes to the vault (`purelink secrets set NAME`)."),
    StoreOption("md", "MotherDuck", "md:analytics", "a MotherDuck token",
                "app.motherduck.com -> Settings -> Access tokens -> Create token; store it as MOTHERDUCK_TOKEN."),
    StoreOption("bigquery", "BigQuery", "bigquery://my-project/raw", "a service-account JSON key",
                "console.cloud.google.com -> IAM -> Service accounts -> (account with BigQuery Data Editor and "
                "Job User) -> Keys -> Add key -> JSON; store the file's content in the vault."),
    StoreOption("iceberg", "Iceberg tables (local or S3)", "iceberg:///srv/lake/warehouse",
                "S3 access key id and secret key (for s3:// warehouses)",
                "Your object store's console -> access keys; a local warehouse needs none."),
)


def store_option(kind: str) -> StoreOption:
    return next((o for o in STORES if o.kind == kind), STORES[0])


def destination_url(kind: str, current: DestinationChoice, *, db_path: str | None, url: str | None) -> str | None:
    """The store URL a storage-stage answer means: a DuckDB path, or the URL typed for another store
    (the current one kept when the kind did not change); a SessionError says how it looks."""
    if kind == "duckdb":
        if db_path:
            return f"duckdb:{db_path}"
        return current.url if current.kind == "duckdb" else None
    if url:
        return url
    if current.kind == kind and current.url:
        return current.url
    option = store_option(kind)
    raise SessionError(f"The {option.label} destination needs its URL.",
                       f"Give it like {option.example}. Key: {option.key}. {option.guidance}")


class SessionError(PurelinkError):
    """An action asked for before what it needs (a source, a key, a passing test...)."""


class UnknownSource(SourceError):
    """A source name not in the catalog; `suggestions` are the nearest entries."""

    def __init__(self, message: str, guidance: str = "", suggestions: list | None = None) -> None:
        super().__init__(message, guidance)
        self.suggestions = suggestions or []


class SessionState(BaseModel):
    """Everything answered so far; saved as `.purelink/session.json`. Never holds a key's value."""

    model_config = ConfigDict(extra="ignore")

    stage: Stage = "source"
    source: str | None = None
    imported_from: str | None = None  # the OpenAPI document a workspace connector came from
    base_url: str | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    streams: list[str] = Field(default_factory=list)
    requirements: Requirements = Field(default_factory=Requirements)
    destination: DestinationChoice = Field(default_factory=DestinationChoice)
    executor: Literal["docker", "local", "auto"] = "auto"
    keys_ready: bool = True
    credential: str | None = None  # the secret's name (vault entry or environment variable)
    credential_saved: bool = False  # in the vault; otherwise in this process's memory only
    credential_ok: bool = False  # passed the format check and the live health check
    columns: dict[str, list[str] | None] = Field(default_factory=dict)
    validations: dict[str, list[ValidationRule]] = Field(default_factory=dict)  # checks the user ticked
    probed: list[str] = Field(default_factory=list)
    recipe_name: str | None = None
    recipe_version: int | None = None
    module: str | None = None
    preflight: list[dict] = Field(default_factory=list)
    test: dict | None = None  # status, checks, records of the sample run
    run: dict | None = None  # the finished event of the full run
    done: bool = False
    drafts: dict[str, dict[str, Any]] = Field(default_factory=dict)  # answers not committed yet, by stage


@dataclass
class Suggestion:
    """A catalog entry as the combobox shows it (the ranking module's own type when present)."""

    name: str
    title: str
    description: str
    label: str
    score: float = 0.0
    why: str = ""
    category: str = ""


@dataclass
class StreamInfo:
    name: str
    description: str
    primary_key: str | list[str] | None
    cursor: str | None
    incremental: bool  # the API filters it by time, so later runs read only what is new


@dataclass
class Question:
    """A requirement to ask, with its choices and default (for any UI)."""

    key: str
    prompt: str
    default: Any
    choices: list[str] | None = None
    help: str = ""


@dataclass
class KeyHelp:
    """How to get the key: shown at the credentials stage."""

    title: str
    needs_key: bool
    dashboard_url: str | None
    steps: list[str]
    key_hint: str | None
    test_vs_live: str | None
    env: str | None
    secret_name: str
    found: str | None = None  # where a key already is (masked), e.g. "vault entry stripe: sk_test_****dJ"
    password_env: str | None = None  # a second secret, the Basic password (Twilio: TWILIO_AUTH_TOKEN)


@dataclass
class CredentialStatus:
    name: str
    masked: str
    health: str  # the health check's sentence
    saved: bool  # encrypted in the vault
    where: str  # "vault" or "memory"


@dataclass
class Generated:
    recipe: Recipe
    recipe_path: Path
    module_path: Path
    code: str
    checks: list  # preflight.Check
    cell: str  # the notebook cell that re-runs it

    @property
    def ok(self) -> bool:
        return all(c.status != "FAIL" for c in self.checks)


@dataclass
class TestReport:
    ok: bool
    checks: list[dict]  # {name, status PASS/WARN/FAIL, detail}
    finished: dict
    warning: str | None = None  # e.g. "running locally, not isolated"
    output: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    done: bool
    status: str
    summary: str  # the completion summary a person reads
    finished: dict
    files: dict[str, str]  # recipe, module, database, schemas, samples, logs
    cell: str
    next_steps: list[str]


class RunControl:
    """A full run under way. Its events are consumed in a background thread, so a UI stays free:
    `stop()`, `pause()`, `resume()`; `progress` is the latest page/heartbeat event; `wait()`
    returns the `RunResult` once finished. `on_event` is called from that thread."""

    def __init__(self, handle: Run, on_event: Callable[[dict], None] | None,
                 on_done: Callable[[Any], None]) -> None:
        self.handle = handle
        self.warning: str | None = handle.warning
        self.events: list[dict] = []
        self.progress: dict | None = None
        self.result = None
        self.paused = False
        self._on_event = on_event
        self._on_done = on_done
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._consume, name="purelink-run", daemon=True)
        self._thread.start()

    def _seen(self, event: dict) -> None:
        self.events.append(event)
        if event["event"] in ("page", "heartbeat", "window_done"):
            self.progress = event
        if self._on_event is not None:
            self._on_event(event)

    def _consume(self) -> None:
        from purelink.execution.jobs import RunResult

        try:
            self.result = self.handle.collect(on_event=self._seen)
        except Exception as exc:  # noqa: BLE001 - the UI learns of it through the result, not a dead thread
            self.result = RunResult(exit_code=-1, events=self.events, output=[f"{type(exc).__name__}: {exc}"])
        try:
            self._on_done(self.result)
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def output(self) -> list[str]:
        """The run's lines that were not events (for the monitor's Debug view)."""
        return self.handle.output

    def stop(self) -> None:
        if self.paused:
            self.resume()  # a stopped process cannot handle SIGTERM
        self.handle.stop()

    def pause(self) -> None:
        self.handle.pause()
        self.paused = True

    def resume(self) -> None:
        self.handle.resume()
        self.paused = False

    def wait(self, timeout: float | None = None):
        """The RunResult, or None if the run is still going after `timeout` seconds."""
        self._done.wait(timeout)
        return self.result if self.done else None
