"""A DuckDB file holding the same data stays the same size however many runs load it: full refreshes,
incremental runs with new and re-read records, a run with fewer columns and back. A user trial saw
1.5 MB grow to 21 MB over 25 runs: each run's row in `_purelink.executions` (and each run's other
small writes) became a row group of its own, at least one 256 KB block, because a loading connection
turns DuckDB's vacuum off and nothing turned it back on (duckdb_connection.compact). What landed is
compared with the sandbox's own records, value by value."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx

from purelink.engine import Engine
from purelink.recipes import parse_recipe
from purelink.runtime.destinations import duckdb_connection
from purelink.runtime.destinations.base import Batch
from purelink.runtime.destinations.duckdb import DuckDBDestination

RUNS = (  # F: --full-refresh, I: incremental, +: new customers at the source first, n: fewer columns
    "F", "I", "I+", "F", "I+", "nF", "nI+", "F", "I", "I+", "F", "I+", "I+", "I+", "I+", "I+", "I", "I+",
)  # the incremental runs at the end merge what they re-read into the table: no full refresh rebuilds it
COLUMNS = ["id", "email", "created"]


def recipe_module(pipeline, columns: list[str] | None) -> Path:
    """A new version of the pipeline's recipe (its columns chosen, or all of them), generated."""
    chosen = f", columns: [{', '.join(columns)}]" if columns else ""
    engine = Engine(pipeline.workspace)
    recipe = parse_recipe(
        f"name: {pipeline.name}\nsource: {{name: stripe, base_url: '{pipeline.sandbox.stripe_base_url}'}}\n"
        f"streams: [{{name: customers{chosen}}}]\nrequirements: {{history_start: '2020-01-01'}}\n")
    return engine.generate(engine.recipes.save(recipe))


def file_size(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}.wal")) if p.exists())


def digest(rows) -> str:
    return hashlib.sha256("\n".join(map(repr, sorted(rows))).encode()).hexdigest()


def source_customers(api) -> list[tuple]:
    """Every customer the sandbox holds, read through its own list endpoint."""
    found, after = [], None
    with httpx.Client(headers={"Authorization": f"Bearer {api.api_key}"}) as client:
        while True:
            page = client.get(f"{api.stripe_base_url}/customers",
                              params={"limit": 100, **({"starting_after": after} if after else {})}).json()
            found += page["data"]
            if not page["has_more"]:
                break
            after = page["data"][-1]["id"]
    return [(c["id"], c["email"], c["name"], c["created"], c["balance"],
             json.dumps(c["address"], sort_keys=True) if c["address"] is not None else None) for c in found]


def test_many_runs_keep_the_file_the_size_of_its_data_and_land_every_value(sandbox_factory, pipeline):
    api = sandbox_factory(customers=1500)
    p = pipeline(api)
    sizes, added, columns = [], 0, None
    for run in RUNS:
        if "+" in run:
            for _ in range(5):
                added += 1
                httpx.post(f"{api.stripe_base_url}/customers", data={"email": f"new{added}@example.com", "name": "New"},
                           headers={"Authorization": f"Bearer {api.api_key}"}).raise_for_status()
        if (COLUMNS if "n" in run else None) != columns:  # the recipe edited, as a user would
            columns = COLUMNS if "n" in run else None
            p.module = recipe_module(p, columns)
        p.run(*(["--full-refresh"] if "F" in run else []))
        sizes.append(file_size(p.db))
    growth = ", ".join(f"{run} {size / 1e6:.2f}" for run, size in zip(RUNS, sizes, strict=True))
    # A staged full refresh holds the old table and the new one at once (a kill loses nothing), so
    # the file needs room for two copies of the data; DuckDB reuses that room, never gives it back.
    assert sizes[-1] <= 2 * sizes[0], f"MB after each run: {growth}"
    half = len(sizes) // 2
    assert max(sizes[half:]) <= max(sizes[:half]), f"the file still grows; MB after each run: {growth}"

    truth = source_customers(api)
    landed = p.query("SELECT id, email, name, epoch(created)::BIGINT, balance, address FROM stripe.customers")
    landed = [(*r[:5], json.dumps(json.loads(r[5]), sort_keys=True) if r[5] is not None else None) for r in landed]
    assert len(truth) == 1500 + added
    assert (len(landed), len({r[0] for r in landed})) == (len(truth), len(truth))
    assert digest(landed) == digest(truth)
    runs = p.query("SELECT count(*), count(*) FILTER (WHERE status = 'success') FROM _purelink.executions")
    assert runs == [(len(RUNS), len(RUNS))]


def test_a_compaction_that_fails_loses_nothing_and_the_close_still_closes(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(duckdb_connection, "RECYCLE_LOG_BYTES", 1)  # a reopen after every commit
    db = tmp_path / "x.duckdb"
    sent = [{"id": i, "note": f"n{i}" * (i % 50)} for i in range(30_000)]
    destination = DuckDBDestination(db)
    destination.open()
    destination.start_run(run_id="r", pipeline="p", recipe="p", version=1, mode="incremental")
    for i in range(0, len(sent), 10_000):  # three row groups of their own, for the compaction to merge
        destination.commit([Batch("p", "s", "main", "t", ("id",), rows=sent[i:i + 10_000], state={"at": i})],
                           run_id="r", extracted_at=datetime.now(UTC))
        destination.between_commits()
    destination.close()  # a run that was reopened is not compacted as it closes: too large
    assert "could not compact" not in caplog.text
    destination = DuckDBDestination(db)  # the next run writes little, and is compacted as it closes
    destination.open()
    destination.commit([Batch("p", "s", "main", "t", ("id",), rows=sent[-1:], state={"at": 20_000})],
                       run_id="r", extracted_at=datetime.now(UTC))  # the last record, read again
    destination.finish_run("r", status="success")
    # too small for the merge: the checkpoint fails, and DuckDB gives up on the open file
    destination.con.execute("SET memory_limit = '1MB'")
    destination.close()
    assert "could not compact" in caplog.text
    destination.open()  # DuckDB replays its log: every commit is there
    try:
        landed = destination.con.execute("SELECT id, note FROM main.t").fetchall()
        assert digest(landed) == digest((r["id"], r["note"]) for r in sent)
        assert destination.load_state("p", "s") == {"at": 20_000}
        assert destination.con.execute("SELECT status FROM _purelink.executions").fetchall() == [("success",)]
    finally:
        destination.close()
