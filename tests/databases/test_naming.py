"""Where rows land: tables differing only in case are refused before loading (DuckDB folds case), a
table owned by one source is never merged with another (a default name gives way, a chosen one is refused), and a DuckDB file named like a schema
(`data/stripe.duckdb`) works for REST and database pipelines alike."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import duckdb
import httpx

from purelink.runtime import PostgresSource, Table, sql_run
from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination
from purelink.runtime.events import EventWriter


def run(postgres, db, streams, path, pipeline: str = "p") -> tuple[dict, list[dict]]:
    out = io.StringIO()
    finished = sql_run(PostgresSource(url=postgres.url(db)), streams, pipeline=pipeline,
                       destination=DuckDBArrowDestination(path), events=EventWriter("t", out))
    return finished, [json.loads(line) for line in out.getvalue().splitlines()]


def duck(path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_tables_differing_only_in_case_are_refused_then_renamed_with_into(postgres, db, tmp_path, secrets_env):
    postgres.execute(db, 'CREATE TABLE "MixedCase" (id int PRIMARY KEY, v text)',
                     """INSERT INTO "MixedCase" VALUES (1, 'upper')""",
                     "CREATE TABLE mixedcase (id int PRIMARY KEY, v text)",
                     "INSERT INTO mixedcase VALUES (1, 'lower one'), (2, 'lower two')")
    path = tmp_path / "case.duckdb"
    finished, events = run(postgres, db, [Table("MixedCase"), Table("mixedcase")], path)
    assert finished["status"] == "failed"
    error = next(e for e in events if e["event"] == "error")
    assert "'MixedCase'" in error["message"] and "'mixedcase'" in error["message"]
    assert "into" in error["guidance"] and "nothing was loaded" in error["guidance"]
    assert duck(path, "SELECT count(*) FROM duckdb_tables() WHERE lower(table_name) = 'mixedcase'") == [(0,)]

    streams = [Table("MixedCase", into="mixedcase_upper"), Table("mixedcase")]
    finished, _ = run(postgres, db, streams, path)
    assert finished["status"] == "success", finished
    assert duck(path, "SELECT id, v FROM postgres.mixedcase_upper ORDER BY id") == \
        postgres.query(db, 'SELECT id, v FROM "MixedCase" ORDER BY id')
    assert duck(path, "SELECT id, v FROM postgres.mixedcase ORDER BY id") == \
        postgres.query(db, "SELECT id, v FROM mixedcase ORDER BY id")

    # Another recipe reading "MixedCase" by its default name finds the table that already holds
    # that source table, and never touches `mixedcase`; naming a case twin by hand is refused.
    finished, events = run(postgres, db, [Table("MixedCase")], path, pipeline="other")
    assert finished["status"] == "success", finished
    assert duck(path, "SELECT id, v FROM postgres.mixedcase_upper ORDER BY id") == [(1, "upper")]
    finished, events = run(postgres, db, [Table("MixedCase", into="MIXEDCASE")], path, pipeline="other")
    assert finished["status"] == "failed"
    error = next(e for e in events if e["event"] == "error")
    assert "differs only in case" in error["message"] and "into" in error["guidance"]
    assert duck(path, "SELECT id, v FROM postgres.mixedcase ORDER BY id") == [(1, "lower one"), (2, "lower two")]


def test_a_second_source_is_kept_apart_and_a_chosen_owned_table_refused(postgres, db, tmp_path, secrets_env):
    other = postgres.create_database("other")
    for name, n in ((db, 3), (other, 5)):
        postgres.execute(name, "CREATE TABLE items (id int PRIMARY KEY, label text)",
                         f"INSERT INTO items SELECT g, '{name}' || g FROM generate_series(1, {n}) g")
    path = tmp_path / "own.duckdb"
    assert run(postgres, db, [Table("items")], path, pipeline="first")[0]["status"] == "success"
    # By default the second source's `items` gets a table named after its database.
    finished, events = run(postgres, other, [Table("items")], path, pipeline="second")
    assert finished["status"] == "success", finished
    warning = next(e for e in events if e["event"] == "warning" and f"{other}_items" in e["message"])
    assert "into" in warning["message"]
    assert finished["streams"]["items"]["table"] == f"postgres.{other}_items"  # what the engine reads back
    assert duck(path, f"SELECT id, label FROM postgres.{other}_items ORDER BY id") == \
        postgres.query(other, "SELECT id, label FROM items ORDER BY id")
    # A table the user names is theirs to choose: one owned by another source is refused.
    postgres.execute(other, "CREATE TABLE things AS SELECT * FROM items")
    finished, events = run(postgres, other, [Table("things", into="items")], path, pipeline="third")
    assert finished["status"] == "failed"
    error = next(e for e in events if e["event"] == "error")
    assert f"/{db} public.items (recipe first)" in error["message"] and "into" in error["guidance"]
    assert duck(path, "SELECT id, label FROM postgres.items ORDER BY id") == \
        postgres.query(db, "SELECT id, label FROM items ORDER BY id")
    assert run(postgres, db, [Table("items")], path, pipeline="first")[0]["status"] == "success"  # its owner
    assert duck(path, "SELECT count(*) FROM _purelink.tables")[0][0] == 2


def test_a_duckdb_file_named_like_its_schema_works_for_a_database_source(postgres, db, tmp_path, secrets_env):
    postgres.execute(db, "CREATE TABLE t (id int PRIMARY KEY, v text)",
                     "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 40) g")
    path = tmp_path / "data" / "postgres.duckdb"  # catalog `postgres`, schema `postgres`
    for _ in range(2):  # the second run merges into the existing table
        finished, _ = run(postgres, db, [Table("t")], path)
        assert finished["status"] == "success", finished
    assert duck(path, "SELECT id, v FROM postgres.postgres.t ORDER BY id") == \
        postgres.query(db, "SELECT id, v FROM t ORDER BY id")


def test_a_duckdb_file_named_like_its_schema_works_for_a_rest_source(small_sandbox, tmp_path):
    env = {**os.environ, "STRIPE_API_KEY": small_sandbox.api_key}

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, env=env, timeout=300, check=False, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    cli("recipes", "new", "custs", "--source", "stripe", "--streams", "customers", "--base-url",
        small_sandbox.stripe_base_url, "--db", "data/stripe.duckdb", "--executor", "local")
    finished = json.loads(cli("recipes", "run", "custs", "--format", "json").splitlines()[-1])
    assert finished["status"] == "success", finished
    expected, after = {}, None
    headers = {"Authorization": f"Bearer {small_sandbox.api_key}"}
    with httpx.Client(base_url=small_sandbox.stripe_base_url, headers=headers) as client:
        while True:
            page = client.get("/customers", params={"limit": 100, **({"starting_after": after} if after else {})}).json()
            expected.update((c["id"], c["email"]) for c in page["data"])
            if not page["has_more"]:
                break
            after = page["data"][-1]["id"]
    landed = dict(duck(tmp_path / "data" / "stripe.duckdb", "SELECT id, email FROM stripe.stripe.customers"))
    assert len(expected) == 150 and landed == expected
    # and the short name a user types works in inspect: the file is opened as its own catalog
    rows = json.loads(cli("inspect", "--db", "data/stripe.duckdb", "--query",
                          "SELECT count(DISTINCT id) AS n FROM stripe.customers", "--format", "json"))
    assert rows == [{"n": 150}]


def test_target_and_cursor_options_explain_their_mistakes(tmp_path):
    cases = [
        (["--source", "stripe", "--streams", "customers", "--cursor", "customers:created"], "for database sources"),
        (["--source", "postgres", "--streams", "public.film", "--cursor", "public.actor:last_update"],
         "not among --streams"),
        (["--source", "postgres", "--streams", "public.film", "--cursor", "public.film"], "TABLE:COLUMN"),
        (["--source", "postgres", "--streams", "public.film:"], "SOURCE_TABLE:TARGET_TABLE"),
    ]
    for args, message in cases:
        done = subprocess.run([sys.executable, "-m", "purelink.cli", "recipes", "new", "x", *args, "--base-url",
                               "postgresql://u@127.0.0.1:1/db"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, check=False, stdin=subprocess.DEVNULL)
        assert done.returncode != 0 and message in done.stdout + done.stderr, (args, done.stdout + done.stderr)
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "recipes").exists() or not list((tmp_path / "recipes").iterdir())


def test_the_warehouse_keeps_case_twins_apart_and_counts_generations(postgres, db, tmp_path, secrets_env):
    from purelink.runtime import PostgresDestination

    postgres.execute(db, 'CREATE TABLE "MixedCase" (id int PRIMARY KEY, v text)',
                     """INSERT INTO "MixedCase" VALUES (1, 'upper')""",
                     "CREATE TABLE mixedcase (id int PRIMARY KEY, v text)",
                     "INSERT INTO mixedcase VALUES (1, 'lower one'), (2, 'lower two')")
    warehouse = postgres.create_database("wh")
    streams = [Table("MixedCase"), Table("mixedcase")]
    for full_refresh in (False, True):
        dest = PostgresDestination(postgres.url(warehouse), password="PGPASSWORD", schema="raw", airbyte_metadata=True)
        finished = sql_run(PostgresSource(url=postgres.url(db)), streams, pipeline="w", destination=dest,
                           events=EventWriter("t", io.StringIO()), full_refresh=full_refresh)
        assert finished["status"] == "success", finished
    for table in ('"MixedCase"', "mixedcase"):
        assert postgres.query(warehouse, f"SELECT id, v, _airbyte_generation_id FROM raw.{table} ORDER BY id") == \
            [(i, v, 1) for i, v in postgres.query(db, f"SELECT id, v FROM {table} ORDER BY id")]


def test_an_incremental_table_given_a_new_target_is_read_from_the_start(postgres, db, tmp_path, secrets_env):
    """The saved cursor belongs to the table it filled: a stream whose `into` changes fills the new
    table from the start (a full refresh of it), leaves the old one as it was, and says so."""
    postgres.execute(db, "CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10,2), updated_at timestamptz)",
                     "INSERT INTO orders SELECT i, i * 1.5, '2026-01-01'::timestamptz + i * interval '1 minute' "
                     "FROM generate_series(1, 300) i")
    path = tmp_path / "moved.duckdb"
    truth = "SELECT id, amount::text, extract(epoch FROM updated_at)::bigint FROM orders ORDER BY id"
    landed = "SELECT id, amount::varchar, epoch(updated_at)::bigint FROM postgres.orders_v2 ORDER BY id"
    finished, _ = run(postgres, db, [Table("orders", cursor="updated_at")], path)
    assert finished["status"] == "success", finished

    finished, events = run(postgres, db, [Table("orders", cursor="updated_at", into="orders_v2")], path)
    assert finished["status"] == "success", finished
    assert duck(path, landed) == postgres.query(db, truth)
    assert duck(path, "SELECT count(*), count(DISTINCT id) FROM postgres.orders") == [(300, 300)]
    warning = " ".join(e["message"] for e in events if e["event"] == "warning")
    assert "now loads into postgres.orders_v2" in warning and "postgres.orders" in warning, warning

    postgres.execute(db, "INSERT INTO orders VALUES (301, 1.25, '2026-02-01'), (302, NULL, '2026-02-02')",
                     "UPDATE orders SET amount = 0, updated_at = '2026-02-03' WHERE id = 7")
    finished, events = run(postgres, db, [Table("orders", cursor="updated_at", into="orders_v2")], path)
    assert finished["status"] == "success", finished
    assert not [e for e in events if e["event"] == "warning"], events
    assert finished["records"] == 3  # an incremental read again, from the new table's own cursor
    assert duck(path, landed) == postgres.query(db, truth)
    assert duck(path, "SELECT count(*) FROM postgres.orders") == [(300,)]
