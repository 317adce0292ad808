"""Fixtures for the hostile-API tests: the server, and a workspace whose recipe reads from it.

A pipeline is made the way a user makes one: a connector spec in the workspace's `connectors/`,
a recipe saved through the engine, the generated module run as a subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from purelink.engine import Engine
from purelink.recipes import parse_recipe
from purelink.runtime.events import parse_event


def _load_server():
    """The server module beside this file (tests are imported with importlib: no sys.path entry)."""
    spec = importlib.util.spec_from_file_location("hostile_api", Path(__file__).with_name("hostile_api.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["hostile_api"] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


HostileApi = _load_server().HostileApi
PAGE = 50
STREAMS = {
    "cursor_items": {"path": "/cursor"},
    "page_items": {"path": "/pages", "pagination": {
        "style": "page_number", "page_param": "page", "limit_param": "per_page", "page_size": PAGE,
        "total_pages_path": "total_pages", "has_more_path": "has_more"}},
    "offset_items": {"path": "/offset", "pagination": {
        "style": "offset", "limit_param": "limit", "page_size": PAGE, "total_path": "total",
        "has_more_path": "has_more"}},
    "broken_items": {"path": "/broken"},
    "trickle_items": {"path": "/trickle"},
}


def spec(base_url: str) -> dict:
    return {
        "name": "hostile", "title": "Hostile", "category": "Test", "description": "An API that misbehaves",
        "base_url": base_url, "auth": {"style": "none"}, "records_path": "data", "concurrency": 4,
        "pagination": {"style": "cursor", "cursor_param": "starting_after", "cursor_field": "uid",
                       "has_more_path": "has_more", "limit_param": "limit", "page_size": PAGE},
        "streams": [{"name": name, "primary_key": "id", **s} for name, s in STREAMS.items()],
    }


class Run:
    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.events = [e for e in map(parse_event, proc.stdout.splitlines()) if e]
        self.finished = self.events[-1] if self.events and self.events[-1]["event"] == "finished" else {}

    @classmethod
    def of_process(cls, proc: subprocess.Popen, timeout: float) -> Run:
        out, err = proc.communicate(timeout=timeout)
        return cls(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["event"] == kind]


class Workspace:
    """A workspace with one recipe over the hostile API's chosen streams."""

    def __init__(self, root: Path, api: HostileApi, streams: list[str], **requirements) -> None:
        self.root, self.api = root, api
        (root / "connectors").mkdir(parents=True, exist_ok=True)
        (root / "connectors" / "hostile.yaml").write_text(yaml.safe_dump(spec(api.base_url)))
        recipe = parse_recipe(yaml.safe_dump({
            "name": "hostile_run", "source": {"name": "hostile"}, "streams": [{"name": s} for s in streams],
            "requirements": {"history_start": "2020-01-01", **requirements}}))
        engine = Engine(root)
        self.module = engine.generate(engine.recipes.save(recipe))
        self.db = root / "data" / "purelink.duckdb"

    def run(self, *args: str, env: dict | None = None) -> Run:
        proc = subprocess.run([sys.executable, str(self.module), *args], cwd=self.root,
                              env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                              capture_output=True, text=True, timeout=600, check=False)
        return Run(proc)

    def start(self, *args: str) -> subprocess.Popen:
        """The run in the background, for tests that act on it mid-run (see `Run.of_process`)."""
        return subprocess.Popen([sys.executable, str(self.module), *args], cwd=self.root,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def query(self, sql: str, *params):
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return con.execute(sql, list(params)).fetchall()
        finally:
            con.close()

    def loaded(self, table: str) -> dict[int, dict]:
        """id -> row as loaded (column names lower-cased)."""
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            cur = con.execute(f'SELECT * FROM hostile."{table}"')
            names = [d[0].lower() for d in cur.description]
            return {row[names.index("id")]: dict(zip(names, row)) for row in cur.fetchall()}
        finally:
            con.close()

    def dead_letters(self, stream: str) -> list[tuple[str, str]]:
        return self.query("SELECT reason, CAST(record AS VARCHAR) FROM _purelink.dead_letters "
                          "WHERE stream = ? ORDER BY reason", stream)


@pytest.fixture
def hostile():
    servers: list[HostileApi] = []

    def start(n: int = 600, **switches) -> HostileApi:
        api = HostileApi(n, **switches)
        api.start()
        servers.append(api)
        return api

    yield start
    for api in servers:
        api.close()


@pytest.fixture
def workspace(tmp_path):
    def make(api: HostileApi, streams: list[str], **requirements) -> Workspace:
        return Workspace(tmp_path / "ws", api, streams, **requirements)

    return make
