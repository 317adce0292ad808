"""A timestamp or date cursor holding PostgreSQL's `infinity` / `-infinity`: loaded exactly, the run
resumes with later rows (a saved cursor of infinity would skip them forever), and `purelink inspect`
shows infinity rather than Python's last date."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import pytest

CLI = [sys.executable, "-m", "purelink.cli"]


def cli(*args: str, cwd, env) -> subprocess.CompletedProcess:
    done = subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300,
                          check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


@pytest.mark.parametrize("kind", ["timestamptz", "timestamp", "date"])
def test_an_infinite_cursor_loads_and_resumes(postgres, db, tmp_path, secrets_env, kind):
    postgres.execute(db, f"CREATE TABLE events (id int PRIMARY KEY, label text, changed {kind})",
                     "INSERT INTO events VALUES (1, 'first', 'infinity'), (2, 'past', '-infinity'), "
                     "(3, 'plain', '2021-03-04'), (4, 'none', NULL), (5, 'second', 'infinity')")
    env = {**secrets_env, "PYTHONPATH": os.environ.get("PYTHONPATH", secrets_env["PYTHONPATH"])}
    cli("recipes", "new", "ev", "--source", "postgres", "--streams", "public.events", "--cursor",
        "public.events:changed", "--base-url", postgres.url(db), "--executor", "local", cwd=tmp_path, env=env)
    truth = "SELECT id, label, changed::text FROM events ORDER BY id"
    path = tmp_path / "data" / "purelink.duckdb"

    def landed() -> list[tuple]:
        con = duckdb.connect(str(path), read_only=True)
        try:
            return con.execute("SELECT id, label, changed::VARCHAR FROM postgres.events ORDER BY id").fetchall()
        finally:
            con.close()

    def run() -> dict:
        return json.loads(cli("recipes", "run", "ev", "--format", "json", cwd=tmp_path, env=env).stdout.splitlines()[-1])

    first = run()
    assert first["status"] in ("success", "success with warnings"), first
    assert first["streams"]["public.events"]["records"] == 5
    source = postgres.query(db, truth)
    assert [(i, v, t if t in (None, "infinity", "-infinity") else t[:10]) for i, v, t in landed()] == \
        [(i, v, t if t in (None, "infinity", "-infinity") else t[:10]) for i, v, t in source]

    # A later row beyond every finite cursor arrives on the next run; nothing is doubled.
    postgres.execute(db, "INSERT INTO events VALUES (6, 'later', '2030-01-01')",
                     "UPDATE events SET label = 'moved', changed = '2029-05-06' WHERE id = 3")
    second = run()
    assert second["status"] in ("success", "success with warnings"), second
    got = landed()
    assert [r[:2] for r in got] == [r[:2] for r in postgres.query(db, truth)]
    assert len(got) == len({r[0] for r in got}) == 6

    shown = cli("inspect", "--query", "SELECT id, changed FROM postgres.events WHERE id IN (1, 2) ORDER BY id",
                "--format", "json", cwd=tmp_path, env=env).stdout
    assert [r["changed"] for r in json.loads(shown)] == ["infinity", "-infinity"]
    table = cli("inspect", "--query", "SELECT changed FROM postgres.events WHERE id = 1", cwd=tmp_path, env=env).stdout
    assert "infinity" in table and "9999" not in table
