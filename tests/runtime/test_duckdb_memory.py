"""DuckDB's buffer pool while loading (runtime/destinations/duckdb_connection.py): capped, so a run's
memory does not grow with its table; a transaction too big for the cap still lands, whole, once
the cap is lifted; a bad cap is refused with what to do. What landed is compared with what was
sent, key by key and value by value."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from purelink.runtime.destinations.base import Batch
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.destinations.duckdb_connection import MEMORY_LIMIT_ENV
from purelink.runtime.errors import RuntimeFailure


def rows(n: int, version: int) -> list[dict]:
    return [{"id": i, "uid": f"u{i:08d}", "note": f"v{version} " + "x" * (i % 300)} for i in range(n)]


def digest(values) -> str:
    return hashlib.sha256("\n".join(map(repr, sorted(values))).encode()).hexdigest()


def setting(destination: DuckDBDestination) -> str:
    return destination.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_a_commit_too_big_for_the_cap_lands_whole_once_the_cap_is_lifted(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    destination = DuckDBDestination(tmp_path / "m.duckdb", memory_limit="1MB")
    destination.open()
    try:
        assert setting(destination) in ("976.5 KiB", "1.0 MiB", "1000.0 KiB")  # DuckDB's own wording of 1MB
        first, second = rows(200_000, 1), rows(200_000, 2)[::3]  # then a merge of scattered keys
        for batch_rows, state in ((first, 1), (second, 2)):
            destination.commit([Batch("p", "s", "main", "t", ("id",), rows=batch_rows, state={"n": state})],
                               run_id="r", extracted_at=datetime.now(UTC))
        landed = destination.con.execute("SELECT id, uid, note FROM main.t").fetchall()
        expected = {r["id"]: r for r in first} | {r["id"]: r for r in second}
        assert len(landed) == len({r[0] for r in landed}) == len(expected) == 200_000
        assert digest(landed) == digest((r["id"], r["uid"], r["note"]) for r in expected.values())
        assert destination.load_state("p", "s") == {"n": 2}  # the state went with the rows
        assert "runs again without the limit" in caplog.text and MEMORY_LIMIT_ENV in caplog.text
        assert setting(destination) != "976.5 KiB"  # lifted for the rest of the run
    finally:
        destination.close()
    assert not (tmp_path / "m.duckdb.tmp").exists()  # the spill folder goes with the connection


def test_the_environment_sets_the_cap_and_a_bad_one_is_refused_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "300MB")
    destination = DuckDBDestination(tmp_path / "m.duckdb")
    destination.open()
    try:
        assert setting(destination) in ("286.1 MiB", "300.0 MiB")
    finally:
        destination.close()
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "lots; DROP TABLE x")
    with pytest.raises(RuntimeFailure) as refused:
        DuckDBDestination(tmp_path / "m.duckdb").open()
    assert "256MB or 2GB" in str(refused.value) and MEMORY_LIMIT_ENV in refused.value.guidance
