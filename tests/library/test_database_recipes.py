"""The library's database recipes, copied into an empty folder and run twice against a real
PostgreSQL server filled from data/: the README's row counts, every key of every source table in
its destination, and a second run that moves nothing."""

from __future__ import annotations

import pytest

from purelink.shipped import shipped

DATA = shipped("data")
PLANTS = ("refills", "bodies", "springs")


def load_sql(server, database: str, path) -> None:
    # ADBC prepares each statement, so the file is sent one statement at a time.
    statements = [s for s in path.read_text().split(";\n")
                  if s.strip() and not all(line.startswith("--") for line in s.strip().splitlines())]
    server.execute(database, *statements)


def fresh_database(server, name: str) -> None:
    con = server.connect(autocommit=True)
    cur = con.cursor()
    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    cur.execute(f'CREATE DATABASE "{name}"')
    con.close()


@pytest.mark.postgres
def test_a_whole_schema_into_duckdb(postgres, copy_recipe, readme):
    db = postgres.create_database("store")
    load_sql(postgres, db, DATA / "store" / "store.sql")
    place = {"PGHOST": postgres.host, "PGPORT": str(postgres.port), "PGDATABASE": db, "PGUSER": postgres.user}
    copied = copy_recipe("postgres_schema_to_duckdb", *(f"--var={k}={v}" for k, v in place.items()),
                         env={"PGPASSWORD": postgres.password})
    first, second = readme("postgres_schema_to_duckdb")
    tables = postgres.query(db, "SELECT 'public.' || table_name FROM information_schema.tables "
                                "WHERE table_schema = 'public'")
    assert set(first) == {t for (t,) in tables}  # the whole schema, no table left out

    assert copied.run() == first
    keys = {"public.customers": "id", "public.products": "id", "public.orders": "id",
            "public.order_items": "order_id, line"}
    for stream, key in keys.items():
        source = postgres.query(db, f"SELECT {key} FROM {stream}")
        landed = copied.duckdb(f"SELECT {key} FROM postgres.{stream.split('.')[1]}")
        assert len(landed) == len(set(landed)) and set(landed) == set(source), stream
    for sql in ("SELECT sum(price) FROM {}.products", "SELECT sum(quantity) FROM {}.order_items"):  # values too
        assert str(copied.duckdb(sql.format("postgres"))[0][0]) == str(postgres.query(db, sql.format("public"))[0][0])

    assert copied.run() == second
    for stream in keys:
        assert copied.duckdb(f"SELECT count(*) FROM postgres.{stream.split('.')[1]}")[0][0] == first[stream]


@pytest.mark.postgres
def test_the_three_plants_into_the_warehouse(postgres, copy_recipe, readme):
    """The plants and the warehouse as four databases side by side on one server (the example's
    one-server mode): the recipe's places are filled in, its four passwords are the server's."""
    for name in (*PLANTS, "warehouse"):
        fresh_database(postgres, name)
    for plant in PLANTS:
        load_sql(postgres, plant, DATA / "manufacturing" / f"{plant}.sql")
    place = {f"{name.upper()}_{part}": value for name in (*PLANTS, "warehouse")
             for part, value in (("HOST", postgres.host), ("PORT", str(postgres.port)))}
    passwords = {f"{name.upper()}_PASSWORD": postgres.password for name in (*PLANTS, "warehouse")}
    copied = copy_recipe("manufacturing", env={**place, **passwords})  # ${NAME}s from the environment
    first, second = readme("manufacturing")

    assert copied.run() == first
    for plant in PLANTS:
        source = postgres.query(plant, "SELECT id, production_line, material, quality_status::text FROM production")
        landed = postgres.query("warehouse", f"SELECT id, production_line, material, quality_status FROM raw.{plant}_production")
        assert sorted(landed) == sorted(source), plant
        assert postgres.query("warehouse", f"SELECT count(*) FROM raw.{plant}_production WHERE "
                                           "_airbyte_raw_id IS NULL OR _airbyte_meta IS NULL") == [(0,)]

    assert copied.run() == second
    for plant in PLANTS:
        assert postgres.query("warehouse", f"SELECT count(*) FROM raw.{plant}_production") == \
            [(first[f"{plant}/public.production"],)]
