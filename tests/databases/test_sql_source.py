"""PostgreSQL as a source: planning from the catalog, streaming batches, cursors that never skip a row."""

from __future__ import annotations

import pyarrow as pa
import pytest

from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.sources.postgres import (
    PostgresSource,
    Query,
    Table,
    cursor_batches,
    plan_stream,
    read_batches,
)


@pytest.mark.parametrize("sizes", [[3, 3, 3], [1] * 9, [9], [2, 5, 2], [4, 1, 4]])
def test_cursor_batches_never_split_a_cursor_value(sizes):
    # Cursor values with ties; whatever the batch boundaries, a committed value v means every
    # row with cursor <= v is committed, and no row is yielded twice.
    values = [1, 1, 2, 2, 2, 3, 4, 4, 5]
    table = pa.table({"id": list(range(9)), "c": values})
    chunks, start = [], 0
    for n in sizes:
        chunks.append(table.slice(start, n))
        start += n
    seen = []
    for rows, state in cursor_batches(iter(chunks), "c"):
        seen += rows["id"].to_pylist()
        assert all(v <= state for v in rows["c"].to_pylist())
        assert all(values[i] > state for i in range(9) if i not in seen)  # the rest lies past the cursor
    assert seen == list(range(9))


def test_cursor_batches_keep_null_cursors_and_the_last_value():
    table = pa.table({"id": [1, 2, 3], "c": [5, 7, None]})
    out = list(cursor_batches(iter([table]), "c"))
    assert sum(t.num_rows for t, _ in out) == 3
    assert out[-1][1] == 7


def test_plan_reads_key_and_cursor_from_the_catalog(postgres, db, secrets_env):
    postgres.execute(db, "CREATE TABLE orders (id bigint PRIMARY KEY, total numeric(10,2), updated_at timestamptz)",
                     "CREATE TABLE notes (body text, created date)",
                     "CREATE TABLE lines (order_id int, line int, qty int, modified_at timestamp, "
                     "PRIMARY KEY (line, order_id))")
    cur = PostgresSource(url=postgres.url(db)).connect().cursor()
    orders = plan_stream(cur, Table("orders"))
    assert (orders.key, orders.cursor, orders.mode) == (("id",), "updated_at", "incremental by updated_at")
    notes = plan_stream(cur, Table("notes", "public.notes"))
    assert (notes.key, notes.cursor, notes.mode) == ((), None, "full reload")
    lines = plan_stream(cur, Table("lines", columns=["qty"]))
    assert lines.key == ("line", "order_id")  # declared key order, not column order
    assert lines.columns == ["line", "order_id", "qty"]  # the key always travels with the chosen columns
    assert lines.cursor is None  # modified_at was not chosen
    explicit = plan_stream(cur, Table("orders", cursor=None, primary_key=None))
    assert (explicit.key, explicit.cursor) == ((), None)
    query = plan_stream(cur, Query("big", "SELECT id, total FROM orders WHERE total > 100;", primary_key="id"))
    assert query.key == ("id",) and query.columns == ["id", "total"]


def test_plan_errors_say_what_to_fix(postgres, db, secrets_env):
    postgres.execute(db, "CREATE TABLE t (id int)")
    cur = PostgresSource(url=postgres.url(db)).connect().cursor()
    with pytest.raises(RuntimeFailure, match="no table public.missing"):
        plan_stream(cur, Table("missing"))
    with pytest.raises(RuntimeFailure, match="no cursor column 'nope'"):
        plan_stream(cur, Table("t", cursor="nope"))
    with pytest.raises(RuntimeFailure, match="Cannot read stream q"):
        plan_stream(cur, Query("q", "SELECT nothing FROM t"))


def test_wrong_password_is_a_sentence_without_the_password(postgres, db, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "not-the-password")
    with pytest.raises(RuntimeFailure) as err:
        PostgresSource(url=postgres.url(db)).connect()
    assert "password authentication failed" in str(err.value)
    assert "not-the-password" not in str(err.value)


def test_reads_stream_in_bounded_batches_after_a_cursor(postgres, db, secrets_env):
    postgres.execute(db, "CREATE TABLE events AS SELECT g AS id, repeat('x', 200) AS payload, "
                         "timestamptz '2024-01-01' + g * interval '1 second' AS updated_at "
                         "FROM generate_series(1, 60000) g",
                     "ALTER TABLE events ADD PRIMARY KEY (id)")
    cur = PostgresSource(url=postgres.url(db)).connect().cursor()
    plan = plan_stream(cur, Table("events"))
    tables = list(read_batches(cur, plan, batch_mb=1))
    assert len(tables) > 5  # a 1 MB hint splits 14 MB of rows
    assert max(t.nbytes for t in tables) < 4 * 1024 * 1024
    assert sum(t.num_rows for t in tables) == 60000
    after = list(read_batches(cur, plan, after="2024-01-01T16:00:00+00:00", batch_mb=1))
    ids = pa.concat_tables(after)["id"].to_pylist()
    assert ids == list(range(57601, 60001))  # strictly after the cursor, in cursor order
    empty = list(read_batches(cur, plan, after="2030-01-01T00:00:00+00:00"))
    assert len(empty) == 1 and empty[0].num_rows == 0 and "payload" in empty[0].column_names
