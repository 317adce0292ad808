"""Recipes: what a pipeline loads, how, and where; YAML on disk, versioned `NAME_vN.yaml`.

A recipe holds credentials by reference (the secret's name), never their values. Saving a
changed recipe writes the next version; older versions stay for history and re-runs. A version is
never changed in place: each file's header records the hash of its content and a copy is kept in
`recipes/.history/`, so a hand edit of `NAME_vN.yaml` is found on the next load, saved as the next
version, and vN put back as it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from purelink.errors import PurelinkError, RecipeError
from purelink.workspace import Workspace

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
FILE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)_v(?P<version>\d+)\.yaml$")
HASH = re.compile(r"^# content sha256 (?P<digest>[0-9a-f]{64})", re.MULTILINE)
log = logging.getLogger("purelink.recipes")


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
    into: str | None = None  # destination table; default: named after the source table (and server)
    server: str | None = None  # databases: which of `source.servers` holds the table
    validations: list[ValidationRule] = Field(default_factory=list)
    max_bad_share: float = Field(0.05, ge=0, le=1)


class Server(Model):
    """One database server of a recipe that reads several (three plants, one sync)."""

    name: str  # a short label: the default prefix of its tables (`plant1_production`)
    base_url: str  # connection URL without the password
    credential: str | None = None  # secret holding its password; None: the source's credential
    streams: list[StreamChoice] | None = None  # moved to the recipe's streams on load

    @field_validator("name")
    @classmethod
    def _label(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"a server name is lower-case letters, digits and underscores, not {value!r}")
        return value


class SourceChoice(Model):
    name: str  # catalog entry
    base_url: str | None = None  # replaces the spec's (sandbox, proxy, region) or a database URL
    credential: str | None = None  # secret name: a vault entry or an environment variable
    variables: dict[str, str] | None = None  # fills the spec's {placeholders}: GitHub owner and repo
    servers: list[Server] | None = None  # databases: several servers, each stream names its `server`


class Requirements(Model):
    purpose: Literal["poc", "production"] = "poc"
    frequency: Literal["once", "hourly", "daily"] = "once"
    history_start: str | None = None  # ISO date
    lookback_s: int = Field(3600, ge=0)
    rate_limit: float | None = Field(None, gt=0)  # requests/s; None: the spec's
    concurrency: int | None = Field(None, ge=1, le=64)
    retry_budget_s: float | None = Field(None, gt=0)  # how long to wait out 429s; None: the runtime's
    request_deadline_s: float | None = Field(None, gt=0)  # a request's whole transfer; None: the runtime's

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
    """Where the rows land, as a store URL (see `purelink.storage`): `duckdb:data/x.duckdb`,
    `postgresql://etl@host:5432/db?schema=raw`, `md:DATABASE`, `bigquery://PROJECT/DATASET`, ...;
    None is the workspace's `data/purelink.duckdb`. `credential` names the vault secret holding
    its password, token or service-account JSON. Recipes written before stores had URLs (`kind`,
    `path`, `url`, `schema_name`) are read into this form."""

    url: str | None = None
    credential: str | None = None
    airbyte_metadata: bool = False

    @model_validator(mode="before")
    @classmethod
    def _old_forms(cls, data):
        if not isinstance(data, dict) or not {"kind", "path", "schema_name"} & data.keys():
            return data
        data = dict(data)
        kind, path, schema = data.pop("kind", None), data.pop("path", None), data.pop("schema_name", None)
        url = data.get("url")
        if kind == "postgres" or (kind is None and url and not url.startswith(("duckdb:", "md:"))):
            if not url:
                raise ValueError("a postgres destination with no URL: set destination.url to "
                                 "postgresql://USER@HOST:PORT/DATABASE (without the password)")
        elif url is None or not url.startswith("duckdb:") or path:
            url = f"duckdb:{path}" if path else ("duckdb:data/purelink.duckdb" if schema else None)
        if schema and url and "schema=" not in url:
            url += ("&" if "?" in url else "?") + f"schema={schema}"
        data["url"] = url
        return data

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        from purelink.storage.base import parse_url

        if value is not None:
            try:
                parse_url(value)
            except PurelinkError as exc:  # its text names the URL forms that work
                raise ValueError(str(exc)) from None
        return value

    @property
    def store_url(self):
        from purelink.storage import DEFAULT_URL, parse_url

        return parse_url(self.url or DEFAULT_URL)

    @property
    def kind(self) -> str:
        """duckdb, postgres, md, bigquery or iceberg."""
        return {"postgresql": "postgres"}.get(self.store_url.kind, self.store_url.kind)

    @property
    def path(self) -> str | None:
        """The DuckDB file relative to the workspace (None: data/purelink.duckdb)."""
        return (self.store_url.path or None) if self.url and self.kind == "duckdb" else None

    @property
    def schema_name(self) -> str | None:
        return self.store_url.options.get("schema")


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

    @model_validator(mode="before")
    @classmethod
    def _server_streams(cls, data):
        """Streams written under their server are the recipe's streams with `server` set: one list
        to version, to show and to run."""
        if not isinstance(data, dict) or not isinstance(data.get("source"), dict):
            return data
        servers = data["source"].get("servers") or []
        moved = []
        for server in servers:
            if isinstance(server, dict) and server.get("streams"):
                for stream in server["streams"]:
                    stream = {"name": stream} if isinstance(stream, str) else dict(stream)
                    moved.append({**stream, "server": server.get("name")})
        if moved:
            data = {**data, "source": {**data["source"], "servers": [
                {k: v for k, v in s.items() if k != "streams"} if isinstance(s, dict) else s for s in servers]},
                "streams": [*(data.get("streams") or []), *moved]}
        return data

    @model_validator(mode="after")
    def _servers_known(self) -> Recipe:
        labels = [s.name for s in self.source.servers or []]
        if len(set(labels)) != len(labels):
            raise ValueError(f"source.servers: each server needs its own name, not {labels}")
        for stream in self.streams:
            if labels and stream.server not in labels:
                raise ValueError(f"stream {stream.name!r} names server {stream.server!r}; "
                                 f"this recipe's servers are {', '.join(labels)}")
            if not labels and stream.server:
                raise ValueError(f"stream {stream.name!r} names server {stream.server!r}, "
                                 "but the source lists no servers")
        ids = [self.stream_id(s) for s in self.streams]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"streams listed twice: {', '.join(twice)}")
        return self

    def stream_id(self, stream: StreamChoice) -> str:
        """The stream's name in runs, state and results: unique even when servers share table names."""
        return f"{stream.server}/{stream.name}" if stream.server else stream.name

    @property
    def filename(self) -> str:
        return f"{self.name}_v{self.version}.yaml"

    def content(self) -> dict:
        """What defines the recipe, without its version and timestamp (to detect changes)."""
        return self.model_dump(exclude={"version", "created_at"}, mode="json")

    def digest(self, *, unset: bool = False) -> str:
        """The content's hash, unset fields left out: a field a later purelink adds changes no recipe's
        hash, so none reads as edited by hand. `unset`: as written before 2026-12-02, nulls in."""
        content = self.model_dump(exclude={"version": True, "created_at": True, "requirements": {
            "request_deadline_s"}}, mode="json") if unset else self.model_dump(exclude={"version", "created_at"},
                                                                           mode="json", exclude_none=True)
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def recorded(self, digest: str | None) -> bool:  # a file's header or a bundle's manifest, by either hash
        return digest in (self.digest(), self.digest(unset=True))

    def to_yaml(self) -> str:
        header = (f"# purelink recipe {self.name} v{self.version}\n"
                  f"# content sha256 {self.digest()} (an edit here is saved as the next version)\n")
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
        problems = [f"{'.'.join(str(p) for p in err['loc']) or 'recipe'}: {err['msg']}" for err in exc.errors()]
        raise RecipeError(f"{origin} has {len(problems)} problem(s): " + "; ".join(problems),
                          "Fix the named field(s) and try again.") from None


def data_folder(workspace: Workspace, db: Path) -> Path:
    """The folder of the database file `db`, made by the user running this (so it is theirs) but only inside
    the workspace: a folder elsewhere must exist already (a typo must not make a tree elsewhere)."""
    folder = Path(db).resolve().parent
    if folder.is_dir():
        return folder
    if not folder.is_relative_to(workspace.root):
        raise RecipeError(f"The folder {folder} for the database {db} does not exist.",
                          f"Create it first (mkdir -p {folder}) if that is where the data should go, or give "
                          "a path inside the workspace, such as data/mine.duckdb.")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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
            raise RecipeError(f"No recipe named {name!r} in {self.workspace.recipes}.", self._not_found_hint(name))
        explicit, version = version is not None, version or versions[-1]
        if version not in versions:
            raise RecipeError(f"{name} has no version {version}.",
                              f"Versions: {', '.join(map(str, versions))}.")
        path = self.path(name, version)
        text = path.read_text()
        recipe = parse_recipe(text, origin=str(path))
        recorded = HASH.search(text)
        if recorded and not recipe.recorded(recorded["digest"]):
            recipe = self._adopt_edit(recipe, path, explicit=explicit)
        return recipe

    def _not_found_hint(self, name: str) -> str:
        """A near name first (a typo), then whether this is a workspace at all (the wrong folder)."""
        import difflib

        names = self.names()
        create = f"`purelink recipes new {name} --source stripe --streams customers` or the wizard"
        close = difflib.get_close_matches(name, names, n=2, cutoff=0.6)  # "pya" for "pay" is 0.67
        if close:
            return f"Did you mean {' or '.join(close)}? Recipes here: {', '.join(names)}."
        if names:
            return f"Recipes here: {', '.join(names)}. Create one with {create}."
        return (f"{self.workspace.root} holds no recipes: run the command in the folder of your workspace (where "
                f"you ran `purelink demo` or `recipes new`), or name it with --workspace PATH. To create one "
                f"here: {create}.")

    def _adopt_edit(self, edited: Recipe, path: Path, explicit: bool) -> Recipe:
        """`path` was edited by hand: its content becomes the next version and the file gets its
        recorded content back, so vN always means what ran as vN."""
        original = self.history / path.name
        # vN gets its recorded text back before the edit is written as the next version: writing
        # records the version in git, which reads vN, and must find it as it was.
        if original.exists():
            path.write_text(original.read_text())
            kept = "restored as it was"
        else:  # no copy to restore from: stamp the edit so it is adopted once, not on every load
            path.write_text(edited.to_yaml())
            kept = "left as edited (no copy of it was kept)"
        saved = self._write(edited, self.versions(edited.name)[-1] + 1)
        log.warning("%s was edited by hand: the edit is saved as %s and %s is %s.", path.name, saved.filename,
                    path.name, kept)
        if explicit:  # the caller asked for that version by number: it gets it as it was
            return parse_recipe(path.read_text(), origin=str(path))
        return saved

    @property
    def history(self) -> Path:
        return self.workspace.recipes / ".history"

    def save(self, recipe: Recipe, *, origin: str | None = None) -> Recipe:
        """Write the recipe; a changed recipe becomes the next version, an unchanged one is kept.
        `origin` says where it came from (a bundle), for the version's commit message."""
        self.workspace.ensure()
        versions = self.versions(recipe.name)
        if versions:
            latest = self.load(recipe.name)
            if latest.content() == recipe.content():
                return latest
            return self._write(recipe, self.versions(recipe.name)[-1] + 1, origin)
        return self._write(recipe, 1, origin)

    def _write(self, recipe: Recipe, version: int, origin: str | None = None) -> Recipe:
        recipe = recipe.model_copy(update={"version": version,
                                           "created_at": datetime.now(UTC).isoformat(timespec="seconds")})
        text = recipe.to_yaml()
        self.history.mkdir(parents=True, exist_ok=True)
        for path in (self.history / recipe.filename, self.path(recipe.name, version)):
            tmp = path.with_suffix(".yaml.tmp")
            tmp.write_text(text)
            tmp.replace(path)
        from purelink.lifecycle.history import record_version  # lazy: history shells out to git

        record_version(self, recipe, origin)
        return recipe


if __name__ == "__main__":
    import sys

    from purelink.cli import module_main

    sys.exit(module_main("recipes"))
