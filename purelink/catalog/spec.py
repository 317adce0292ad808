"""The connector spec: one YAML file per source in `purelink/catalog/connectors/`.

It says where an API is, how to authenticate and get a key, how fast it may be called, how it
pages, and which streams it has. Code generation reads it; the runtime never does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from purelink.errors import SourceError

CONNECTORS = Path(__file__).parent / "connectors"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyGuidance(Model):
    dashboard_url: str | None = None
    steps: list[str] = Field(default_factory=list)
    test_vs_live: str | None = None


class AuthSpec(Model):
    style: Literal["bearer", "header", "basic", "query", "none", "password"] = "bearer"
    env: str | None = None  # documented environment variable for the key
    # style=basic with a password of its own (Twilio: the account SID is the user, the auth token the
    # password); without it the key is the user name and the password is empty (Stripe)
    password_env: str | None = None
    header: str | None = None  # for style=header
    prefix: str = ""  # for style=header
    param: str | None = None  # for style=query
    key_pattern: str | None = None
    key_hint: str | None = None
    guidance: KeyGuidance = Field(default_factory=KeyGuidance)


class HealthCheck(Model):
    path: str
    params: dict[str, Any] = Field(default_factory=dict)


class RateLimit(Model):
    requests_per_second: float | None = None
    # Seconds of requests the API takes at once (a token bucket's size over its rate): after a pause
    # a run may send that many before pacing. Left out, a tenth of a second's.
    burst_s: float | None = Field(None, ge=0)
    headers: list[str] = Field(default_factory=list)
    notes: str | None = None


class Pagination(Model):
    model_config = ConfigDict(extra="allow")
    style: Literal["cursor", "next_url", "link_header", "page_number", "offset", "single page",
                   "graphql"] = "cursor"


class TimeFilterSpec(Model):
    field: str
    gte: str | None = None
    lt: str | None = None
    format: Literal["unix", "iso"] = "unix"
    order: Literal["desc", "asc"] = "desc"
    template: str | None = None  # a parameter whose text carries {gte}/{lt} (Salesforce's SOQL q)


class StreamSpec(Model):
    name: str
    path: str
    description: str = ""
    primary_key: str | list[str] | None = "id"
    cursor_field: str | None = None
    time_filter: TimeFilterSpec | None = None
    records_path: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    pagination: Pagination | None = None
    describe_path: str | None = None  # GET it for the stream's fields (Salesforce's sobjects/X/describe)
    # Fields the API sends as Unix times (Stripe's `created`), loaded as TIMESTAMPTZ; nested fields
    # by their dotted path. The vendor's reference (or its OpenAPI `format: unix-time`) says which.
    formats: dict[str, Literal["unix-seconds", "unix-ms"]] = Field(default_factory=dict)


class Variable(Model):
    """A `{name}` placeholder in the base URL or a stream's path (Shopify's shop, GitHub's repo)."""

    description: str
    default: str | None = None
    example: str | None = None


class ApiVersion(Model):
    """The vendor's API version a spec was written against, in one place: `{api_version}` in the
    base URL or a header is this value. `supported_until` is the end of the vendor's support window
    for it (None: the vendor keeps old versions working); a test fails once it has passed."""

    version: str
    checked: date  # the day the spec was compared with the vendor's documentation
    supported_until: date | None = None
    policy: str  # the vendor's support policy, in a sentence, with where it is written


PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConnectorSpec(Model):
    name: str
    title: str
    category: str
    description: str
    kind: Literal["rest", "database"] = "rest"
    docs_url: str | None = None
    base_url: str | None = None
    auth: AuthSpec = Field(default_factory=AuthSpec)
    health_check: HealthCheck | None = None
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    pagination: Pagination = Field(default_factory=Pagination)
    records_path: str = "data"
    concurrency: int = 8
    headers: dict[str, str] = Field(default_factory=dict)
    streams: list[StreamSpec] = Field(default_factory=list)
    variables: dict[str, Variable] = Field(default_factory=dict)
    api_version: ApiVersion | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_api_version(cls, data: Any) -> Any:
        version = (data.get("api_version") or {}).get("version") if isinstance(data, dict) else None
        if not version:
            return data
        data = dict(data)
        if data.get("base_url"):
            data["base_url"] = data["base_url"].replace("{api_version}", str(version))
        data["headers"] = {k: str(v).replace("{api_version}", str(version)) for k, v in (data.get("headers") or {}).items()}
        return data

    def resolved(self, values: Mapping[str, str] | None = None, *, base_url: str | None = None) -> ConnectorSpec:
        """A copy with each `{placeholder}` of the base URL and paths filled from `values` (the
        recipe's `source.variables`) or the variable's default; `base_url` replaces the spec's.

        >>> get_spec("github").resolved({"owner": "octocat"}).stream("issues").path
        '/repos/octocat/Hello-World/issues'
        """
        given = {k: str(v) for k, v in (values or {}).items() if v not in (None, "")}
        unknown = sorted(set(given) - set(self.variables))
        if unknown:
            raise SourceError(f"{self.title} has no setting named {', '.join(unknown)}.",
                              f"Its settings are: {', '.join(sorted(self.variables)) or 'none'}.")
        missing: list[str] = []

        def fill(text: str, in_path: bool) -> str:
            def one(match: re.Match) -> str:
                var = self.variables.get(match.group(1))
                value = given.get(match.group(1)) or (var.default if var else None)
                if value is None:
                    missing.append(match.group(1))
                    return match.group(0)
                return quote(value, safe="") if in_path else value
            return PLACEHOLDER.sub(one, text)

        data = self.model_dump()
        if base_url or self.base_url:
            data["base_url"] = fill(base_url or self.base_url, False)
        for stream in data["streams"]:
            stream["path"] = fill(stream["path"], True)
        if data["health_check"]:
            data["health_check"]["path"] = fill(data["health_check"]["path"], True)
        if missing:
            name = min(missing)
            var = self.variables.get(name)
            what = f" ({var.description}, e.g. {var.example or var.default})" if var else ""
            raise SourceError(f"{self.title} needs a value for {{{name}}}{what}.",
                              f"Give it when creating the recipe: --var {name}=VALUE, or pass --base-url.")
        return ConnectorSpec.model_validate(data)

    def stream(self, name: str) -> StreamSpec:
        for s in self.streams:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.streams)
        raise SourceError(f"{self.title} has no stream named {name!r}.", f"Choose among: {known}.")

    @property
    def label(self) -> str:
        """How the combobox shows it: `Stripe (Payment processing)`."""
        return f"{self.title} ({self.description})"


def load_spec_file(path: Path) -> ConnectorSpec:
    try:
        # libyaml's loader where installed: every command that finds a source reads the whole
        # catalog, and the pure-Python parser took about 0.25 s of `purelink recipes run`'s start.
        data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return ConnectorSpec.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise SourceError(f"The connector spec {path.name} is invalid: {exc}",
                          "Fix the YAML file; `purelink sources show NAME` validates it.") from None


@lru_cache(maxsize=1)
def catalog() -> dict[str, ConnectorSpec]:
    """Every connector shipped with purelink, by name."""
    return {spec.name: spec for spec in map(load_spec_file, sorted(CONNECTORS.glob("*.yaml")))}


def connector_folders(workspace: str | Path | None = None) -> list[Path]:
    """Where imported specs live (`connectors/NAME.yaml`): the given workspace's folder, else that
    of `$PURELINK_WORKSPACE` (or the current directory). Never a process-wide list: two
    workspaces open in one kernel do not see each other's connectors."""
    from purelink.workspace import Workspace

    return [Workspace.at(workspace or None).root / "connectors"]


def workspace_specs(workspace: str | Path | None = None) -> dict[str, ConnectorSpec]:
    """The imported specs, read each time (an import is visible at once)."""
    found: dict[str, ConnectorSpec] = {}
    for folder in connector_folders(workspace):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            found.setdefault(path.stem, load_spec_file(path))
    return found


def get_spec(name: str, workspace: str | Path | None = None) -> ConnectorSpec:
    """A catalog source by name or title, else a spec imported into a workspace."""
    specs = catalog()
    key = name.strip().lower()
    if key in specs:
        return specs[key]
    for spec in specs.values():
        if spec.title.lower() == key:
            return spec
    for folder in connector_folders(workspace):
        for stem in (key, name.strip()):  # connectors/Main.yaml is found as main and as Main
            if (folder / f"{stem}.yaml").is_file():
                return load_spec_file(folder / f"{stem}.yaml")
    from purelink.catalog.ranking import rank  # ranking reads the catalog: imported here, not at the top

    close = [s.name for s in rank(name, limit=3) if s.why != "description"]
    guess = f"Did you mean {' or '.join(close)}? " if close else ""
    raise SourceError(f"No source named {name!r} in the catalog.",
                      f"{guess}Known sources: {', '.join(sorted(specs))}. `purelink sources {name}` searches by "
                      "description; for another API, import its OpenAPI document.")
