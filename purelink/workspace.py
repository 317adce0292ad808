"""Where a user's recipes, pipelines, schemas, samples, logs and data live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from purelink.shipped import PACKAGE

# A checkout of purelink holds the shipped recipe library and its data in recipes/ and data/ at its
# top: a run started there must not write its recipes and DuckDB files among them.
CHECKOUT = PACKAGE.parent if (PACKAGE.parent / "pyproject.toml").is_file() else None

@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike | None = None) -> Workspace:
        path = Path(root or os.environ.get("PURELINK_WORKSPACE") or Path.cwd()).resolve()
        if path == CHECKOUT:  # the repository itself: its recipes/ and data/ are the library, not a workspace
            path = path / "workspace"
        return cls(path)

    @property
    def recipes(self) -> Path:
        return self.root / "recipes"

    @property
    def pipelines(self) -> Path:
        return self.root / "pipelines"

    @property
    def schemas(self) -> Path:
        return self.root / "schemas"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def default_db(self) -> Path:
        return self.data / "purelink.duckdb"

    def db_path(self, path: str | os.PathLike | None) -> Path:
        if not path:
            return self.default_db
        p = Path(path)
        return p if p.is_absolute() else self.root / p

    def ensure(self) -> Workspace:
        for folder in (self.recipes, self.pipelines, self.schemas, self.samples, self.logs, self.data):
            folder.mkdir(parents=True, exist_ok=True)
        return self
