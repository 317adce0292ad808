"""Fixtures for runtime tests: a real sandbox API over HTTP and pipelines generated from recipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from purelink.engine import Engine
from purelink.recipes import parse_recipe
from purelink.runtime.events import parse_event


class Pipeline:
    """A recipe's generated module in a workspace, run as a user runs it: a subprocess."""

    def __init__(self, workspace: Path, sandbox, name: str = "stripe_customers", streams: tuple = ("customers",),
                 **requirements) -> None:
        self.workspace = workspace
        self.sandbox = sandbox
        self.name = name
        reqs = {"history_start": "2020-01-01", **requirements}
        lines = ", ".join(f"{k}: {v}" for k, v in reqs.items())
        recipe = parse_recipe(
            f"name: {name}\n"
            f"source: {{name: stripe, base_url: '{sandbox.stripe_base_url}'}}\n"
            f"streams: [{', '.join(f'{{name: {s}}}' for s in streams)}]\n"
            f"requirements: {{{lines}}}\n")
        engine = Engine(workspace)
        self.recipe = engine.recipes.save(recipe)
        self.module = engine.generate(self.recipe)
        self.db = workspace / "data" / "purelink.duckdb"

    def env(self) -> dict:
        return {**os.environ, "STRIPE_API_KEY": self.sandbox.api_key, "PYTHONUNBUFFERED": "1"}

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(self.module), *args], cwd=self.workspace, env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def run(self, *args: str, check: bool = True) -> tuple[int, list[dict], str]:
        proc = subprocess.run(check=False, args=[sys.executable, str(self.module), *args], cwd=self.workspace, env=self.env(),
                              capture_output=True, text=True, timeout=300)
        events = [e for e in map(parse_event, proc.stdout.splitlines()) if e]
        if check:
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.returncode, events, proc.stderr

    def query(self, sql: str):
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


@pytest.fixture
def pipeline(tmp_path):
    def make(sandbox, **requirements) -> Pipeline:
        return Pipeline(tmp_path, sandbox, **requirements)

    return make
