"""The heartbeat asks the warehouse's size every 2 s from its own thread while the writer commits.
It once shared the writer's libpq connection: a run hung for 10 minutes `idle in transaction`, and
its commit could end the writer's transaction half way. Sizes now come from a connection of their
own: many commits with sizes asked in a tight loop beside them land every row once, and the sizes
grow with what landed."""

from __future__ import annotations

import threading

from tests.databases.test_postgres_destination import NOW, batch, warehouse  # noqa: F401 - the fixture

PAGES, PER_PAGE = 60, 200


def test_sizes_asked_during_commits_never_touch_the_writers_connection(warehouse, postgres):  # noqa: F811
    dest, name = warehouse
    sizes: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def heartbeat() -> None:
        while not done.is_set():
            try:
                sizes.append(dest.storage_bytes())
            except BaseException as exc:  # noqa: BLE001 - the test reports it below
                errors.append(exc)
                return

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        for page in range(PAGES):
            rows = [{"id": f"c{page * PER_PAGE + i}", "n": i, "note": "x" * 100} for i in range(PER_PAGE)]
            dest.commit([batch(rows, {"cursor": page})], run_id="r1", extracted_at=NOW)
    finally:
        done.set()
        beat.join()
    assert not errors, errors
    count, distinct = postgres.query(name, "SELECT count(*), count(DISTINCT id) FROM raw.customers")[0]
    assert count == distinct == PAGES * PER_PAGE
    assert dest.load_state("p", "customers") == {"cursor": PAGES - 1}
    assert len(sizes) > PAGES and sizes[-1] > sizes[0] > 0  # asked all along, and growing with the rows
    # the heartbeat's reads ran on a connection of their own, never inside the writer's transactions
    backends = postgres.query(name, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND pid <> pg_backend_pid()")[0][0]
    assert backends == 2
