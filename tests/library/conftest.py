"""Running a library recipe as a user does: copied into an empty folder with
`purelink recipes new NAME --from LIBRARY_RECIPE`, run twice with `--executor local`, and what its
README promises read from the README itself, so a README that lies fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from purelink.catalog.library import library_recipe

ROOT = Path(__file__).resolve().parents[2]
FIGURE = re.compile(r"\*\*(?P<n>[\d,]+)\*\*\s+`(?P<stream>[^`]+)`")


def documented(name: str) -> tuple[dict[str, int], dict[str, int]]:
    """The rows per stream the README says a first and a second run move."""
    text = " ".join(library_recipe(name).readme.split())
    first, marker, second = text.partition("a second run")
    assert marker, f"recipes/{name}/README.md should say what a second run moves"

    def figures(part: str) -> dict[str, int]:
        return {m["stream"]: int(m["n"].replace(",", "")) for m in FIGURE.finditer(part)}

    return figures(first), figures(second)


@dataclass
class Copied:
    """A library recipe copied into its own empty workspace, and what its runs reported."""

    folder: Path
    env: dict
    runs: list[dict] = field(default_factory=list)

    def purelink(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=self.folder, env=self.env,
                              capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, check=False)
        if ok:
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    def run(self) -> dict[str, int]:
        """Run the copy; the rows each stream moved."""
        finished = json.loads(self.purelink("recipes", "run", "mine", "--format", "json").stdout.splitlines()[-1])
        assert finished["status"] == "success", finished
        self.runs.append(finished)
        return {stream: s["records"] for stream, s in finished["streams"].items()}

    def duckdb(self, sql: str) -> list[tuple]:
        con = duckdb.connect(str(self.folder / "data" / "purelink.duckdb"), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


@pytest.fixture
def readme():
    """`readme(LIBRARY_RECIPE)`: (rows per stream of a first run, of a second run) as its README says."""
    return documented


@pytest.fixture
def copy_recipe(tmp_path):
    """`copy_recipe(LIBRARY_RECIPE, *options, env=...)`: `recipes new mine --from` in an empty folder."""

    def copy(name: str, *options: str, env: dict | None = None) -> Copied:
        folder = tmp_path / "empty"
        folder.mkdir()
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
        copied = Copied(folder, full_env)
        out = copied.purelink("recipes", "new", "mine", "--from", name, "--executor", "local", *options).stdout
        assert f"from the library recipe {name}" in out and "not set" not in out, out
        return copied

    return copy
