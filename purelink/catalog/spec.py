"""The connector spec: one YAML file per source in `purelink/catalog/connectors/`.

It says where an API is, how to authenticate and get a key, how fast it may be called, how it
pages, and which streams it has. Code generation reads it; the runtime never does.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    headers: list[str] = Field(default_factory=list)
    notes: str | None = None


class Pagination(Model):
    model_config = ConfigDict(extra="allow")
    style: Literal["cursor", "next_url", "link_header", "page_number", "offset", "single page"] = "cursor"


class TimeFilterSpec(Model):
    field: str
    gte: str | None = None
    lt: str | None = None
    format: Literal["unix", "iso"] = "unix"
    order: Literal["desc", "asc"] = "desc"


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
        data = yaml.safe_load(path.read_text())
        return ConnectorSpec.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise SourceError(f"The connector spec {path.name} is invalid: {exc}",
                          "Fix the YAML file; `purelink sources show NAME` validates it.") from None


@lru_cache(maxsize=1)
def catalog() -> dict[str, ConnectorSpec]:
    """Every connector shipped with purelink, by name."""
    return {spec.name: spec for spec in map(load_spec_file, sorted(CONNECTORS.glob("*.yaml")))}


def get_spec(name: str) -> ConnectorSpec:
    specs = catalog()
    key = name.strip().lower()
    if key in specs:
        return specs[key]
    for spec in specs.values():
        if spec.title.lower() == key:
            return spec
    raise SourceError(f"No source named {name!r} in the catalog.",
                      f"Known sources: {', '.join(sorted(specs))}. `purelink sources {name}` searches by "
                      "description; for another API, import its OpenAPI document.")
