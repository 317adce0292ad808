"""Recipes: what a pipeline loads, how, and where; YAML on disk, versioned `NAME_vN.yaml`.

A recipe holds credentials by reference (the secret's name), never their values. Saving a
changed recipe writes the next version; older versions stay for history and re-runs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from purelink.errors import RecipeError
from purelink.workspace import Workspace

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
FILE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)_v(?P<version>\d+)\.yaml$")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValidationRule(Model):
    kind: Literal["required", "email", "type"]
    field: str
    type: str | None = None


class StreamChoice(Model):
    name: str  # an API stream, or a database table (`table`, `schema.table`, `database.schema.table`)
    columns: list[str] | None = None  # None: every field; nested paths like address.city
    primary_key: str | list[str] | None = None  # databases: None reads it from the catalog
    cursor: str | None = None  # databases: the incremental cursor column; None picks updated_at-like
    query: str | None = None  # databases: a SELECT to load instead of the whole table
    validations: list[ValidationRule] = Field(default_factory=list)
    max_bad_share: float = Field(0.05, ge=0, le=1)


class SourceChoice(Model):
    name: str  # catalog entry
    base_url: str | None = None  # replaces the spec's (sandbox, proxy, region) or a database URL
    credential: str | None = None  # secret name: a vault entry or an environment variable
    variables: dict[str, str] | None = None  # fills the spec's {placeholders}: GitHub owner and repo


class Requirements(Model):
    purpose: Literal["poc", "production"] = "poc"
    frequency: Literal["once", "hourly", "daily"] = "once"
    history_start: str | None = None  # ISO date
    lookback_s: int = Field(3600, ge=0)
    rate_limit: float | None = Field(None, gt=0)  # requests/s; None: the spec's
    concurrency: int | None = Field(None, ge=1, le=64)

    @field_validator("history_start", mode="before")
    @classmethod
    def _iso_date(cls, value) -> str | None:  # YAML reads an unquoted 2024-01-01 as a date
        if value is None:
            return None
        value = value.isoformat() if hasattr(value, "isoformat") else str(value)
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"history_start must be an ISO date such as 2024-01-01, not {value!r}") from None
        return value


class DestinationChoice(Model):
    kind: Literal["duckdb", "postgres"] = "duckdb"
    path: str | None = None  # DuckDB file relative to the workspace; None: data/purelink.duckdb
    url: str | None = None  # warehouse connection URL without the password
    credential: str | None = None  # secret holding the warehouse password
    schema_name: str | None = None
    airbyte_metadata: bool = False


class Recipe(Model):
    """Example::

        Recipe(name="stripe_customers", source=SourceChoice(name="stripe"),
               streams=[StreamChoice(name="customers")])
    """

    name: str
    version: int = Field(1, ge=1)
    description: str = ""
    source: SourceChoice
    streams: list[StreamChoice] = Field(min_length=1)
    requirements: Requirements = Field(default_factory=Requirements)
    destination: DestinationChoice = Field(default_factory=DestinationChoice)
    executor: Literal["docker", "local", "auto"] = "auto"
    created_at: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("use lower-case letters, digits and underscores, starting with a letter "
                             f"(for example stripe_customers), not {value!r}")
        return value

    @property
    def filename(self) -> str:
        return f"{self.name}_v{self.version}.yaml"

    def content(self) -> dict:
        """What defines the recipe, without its version and timestamp (to detect changes)."""
        return self.model_dump(exclude={"version", "created_at"}, mode="json")

    def to_yaml(self) -> str:
        header = f"# purelink recipe {self.name} v{self.version}\n"
        return header + yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)


def parse_recipe(text: str, origin: str = "recipe") -> Recipe:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{origin} is not valid YAML: {exc}", "Fix the indentation or quoting.") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{origin} should be a YAML mapping with name, source and streams.",
                          "See `purelink recipes show NAME` for an example.")
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "recipe"
            problems.append(f"{where}: {err['msg']}")
        raise RecipeError(f"{origin} has {len(problems)} problem(s): " + "; ".join(problems),
                          "Fix the named field(s) and try again.") from None


class RecipeStore:
    """The recipes of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def versions(self, name: str) -> list[int]:
        found = []
        for path in self.workspace.recipes.glob(f"{name}_v*.yaml"):
            m = FILE.match(path.name)
            if m and m["name"] == name:
                found.append(int(m["version"]))
        return sorted(found)

    def names(self) -> list[str]:
        names = set()
        for path in self.workspace.recipes.glob("*_v*.yaml"):
            m = FILE.match(path.name)
            if m:
                names.add(m["name"])
        return sorted(names)

    def path(self, name: str, version: int) -> Path:
        return self.workspace.recipes / f"{name}_v{version}.yaml"

    def load(self, name: str, version: int | None = None) -> Recipe:
        m = re.match(r"^(.*)_v(\d+)$", name)
        if m and version is None and m[1] in self.names():
            name, version = m[1], int(m[2])
        versions = self.versions(name)
        if not versions:
            known = ", ".join(self.names()) or "none yet"
            raise RecipeError(f"No recipe named {name!r} in {self.workspace.recipes}.",
                              f"Recipes here: {known}. Create one with `purelink recipes new {name} "
                              "--source stripe --streams customers` or the wizard.")
        version = version or versions[-1]
        if version not in versions:
            raise RecipeError(f"{name} has no version {version}.",
                              f"Versions: {', '.join(map(str, versions))}.")
        path = self.path(name, version)
        return parse_recipe(path.read_text(), origin=str(path))

    def save(self, recipe: Recipe) -> Recipe:
        """Write the recipe; a changed recipe becomes the next version, an unchanged one is kept."""
        self.workspace.ensure()
        versions = self.versions(recipe.name)
        if versions:
            latest = self.load(recipe.name, versions[-1])
            if latest.content() == recipe.content():
                return latest
            recipe = recipe.model_copy(update={"version": versions[-1] + 1})
        else:
            recipe = recipe.model_copy(update={"version": 1})
        recipe = recipe.model_copy(update={"created_at": datetime.now(UTC).isoformat(timespec="seconds")})
        path = self.path(recipe.name, recipe.version)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(recipe.to_yaml())
        tmp.replace(path)
        from purelink.lifecycle.history import record_version  # lazy: history shells out to git

        record_version(self, recipe)
        return recipe


if __name__ == "__main__":
    import sys

    from purelink.cli import module_main

    sys.exit(module_main("recipes"))
