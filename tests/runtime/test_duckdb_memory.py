"""DuckDB's buffer pool while loading (runtime/destinations/duckdb_connection.py): capped, so a run's
memory does not grow with its table; a transaction too big for the cap still lands, whole, once
the cap is lifted; a bad cap is refused with what to do; the connection is reopened between
commits once its log has grown (or DuckDB checkpointed on its own), which gives back what
checkpoints keep, and not one row is lost or doubled across a reopen. What landed is compared with
what was sent, key by key and value by value."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import duckdb
import pytest

from purelink.runtime import OffsetPagination, RestSource, Stream, run
from purelink.runtime.destinations import duckdb_connection
from purelink.runtime.destinations.base import Batch
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.runtime.destinations.duckdb_connection import MEMORY_LIMIT_ENV
from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.events import EventWriter


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


# -- giving memory back between commits (duckdb_connection.LogWatch) --------------------------------

class Catalog(BaseHTTPRequestHandler):
    """Offset pages that overlap by one record (an item shifted between two requests, as offset
    paging does when the list changes), with nested objects, nulls, long and non-ASCII text."""

    protocol_version = "HTTP/1.1"
    items: ClassVar[list[dict]] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 100))
        page = self.items[max(0, offset - 1):offset + limit]
        body = json.dumps({"data": page, "total": len(self.items)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def catalog_items(n: int, version: int) -> list[dict]:
    return [{"id": i, "name": f"Ünïcødé {i} v{version if i % 3 == 0 else 1}", "note": None if i % 7 == 0 else "n" * (i % 500),
             "address": {"city": f"City {i % 97}", "zip": None}, "score": i * 0.25} for i in range(1, n + 1)]


def landed_digest(db) -> tuple[int, int, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        found = con.execute("SELECT id, name, note, address->>'city', score FROM catalog.items").fetchall()
    finally:
        con.close()
    return len(found), len({r[0] for r in found}), digest(found)


def truth_digest(items: list[dict]) -> tuple[int, int, str]:
    return len(items), len(items), digest((r["id"], r["name"], r["note"], r["address"]["city"], r["score"]) for r in items)


def test_a_run_reopens_its_database_as_its_log_grows_and_lands_every_row_exactly(tmp_path, monkeypatch):
    from purelink.runtime.destinations import duckdb as destination_module

    opened, commits = [], []
    real_connect, real_commit = destination_module.connect, DuckDBDestination.commit
    monkeypatch.setattr(destination_module, "connect", lambda *a, **k: opened.append(1) or real_connect(*a, **k))
    monkeypatch.setattr(DuckDBDestination, "commit", lambda *a, **k: commits.append(1) or real_commit(*a, **k))
    monkeypatch.setattr(duckdb_connection, "RECYCLE_LOG_BYTES", 1)  # 8 MB in a real run: here after every commit
    server = ThreadingHTTPServer(("127.0.0.1", 0), Catalog)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    source = RestSource(name="catalog", base_url=f"http://127.0.0.1:{server.server_address[1]}", records_path="data",
                        paginator=OffsetPagination(total_path="total", page_size=100))
    db = tmp_path / "c.duckdb"
    try:
        for version, full_refresh in ((1, True), (2, False)):  # a staged refresh, then a merge over it
            Catalog.items = catalog_items(6_000, version)
            opened.clear()
            commits.clear()
            with open(tmp_path / f"events{version}.jsonl", "w") as out:
                finished = run(source, [Stream("items", "/items")], pipeline="catalog", full_refresh=full_refresh,
                               destination=DuckDBDestination(db), events=EventWriter(f"r{version}", stream=out))
            assert finished["status"] == "success", finished
            # pages arriving while a commit runs go together in the next one, so the count varies;
            # every commit that wrote rows was followed by a reopen before the next one
            assert len(commits) >= 2 and len(opened) >= len(commits), (len(opened), len(commits))
            assert landed_digest(db) == truth_digest(Catalog.items)  # count, distinct ids, every value
    finally:
        server.shutdown()
    destination = DuckDBDestination(db)
    destination.open()
    try:
        assert destination.con.execute("SELECT current_setting('max_vacuum_tasks')").fetchone()[0] == 0
    finally:
        destination.close()


def test_a_checkpoint_duckdb_made_on_its_own_is_followed_by_a_reopen(tmp_path, monkeypatch):
    monkeypatch.setattr(duckdb_connection, "RECYCLE_LOG_BYTES", 1 << 40)  # only DuckDB's own checkpoint
    destination = DuckDBDestination(tmp_path / "m.duckdb")
    destination.open()
    try:
        first = destination.con
        destination.con.execute("SET checkpoint_threshold = '256KB'")
        sent: dict[int, dict] = {}
        for page in range(40):
            batch_rows = rows(500, page)[page * 10:page * 10 + 200]
            sent.update({r["id"]: r for r in batch_rows})
            destination.commit([Batch("p", "s", "main", "t", ("id",), rows=batch_rows, state={"page": page})],
                               run_id="r", extracted_at=datetime.now(UTC))
            destination.between_commits()
            if destination.con is not first:
                break
        assert destination.con is not first, "DuckDB checkpointed, and the connection was not reopened"
        landed = destination.con.execute("SELECT id, uid, note FROM main.t").fetchall()
        assert len(landed) == len({r[0] for r in landed}) == len(sent)
        assert digest(landed) == digest((r["id"], r["uid"], r["note"]) for r in sent.values())
        assert destination.load_state("p", "s") == {"page": page}
    finally:
        destination.close()
