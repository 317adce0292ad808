"""Where a user's recipes, pipelines, schemas, samples, logs and data live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike | None = None) -> Workspace:
        return cls(Path(root or os.environ.get("PURELINK_WORKSPACE") or Path.cwd()).resolve())

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
