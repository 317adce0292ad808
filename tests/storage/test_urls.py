"""One way to name a destination: URLs parsed, stores picked by scheme, recipes of the older
`kind/path/url/schema_name` form read into it, passwords kept out of URLs."""

from __future__ import annotations

import pytest
import yaml

from purelink.engine import Engine
from purelink.errors import PurelinkError
from purelink.recipes import DestinationChoice, parse_recipe
from purelink.storage import DuckDBStore, PostgresStore, parse_url
from purelink.storage import open as open_store


@pytest.mark.parametrize(("old", "url", "kind"), [
    ({}, None, "duckdb"),
    ({"kind": "duckdb", "path": "data/x.duckdb"}, "duckdb:data/x.duckdb", "duckdb"),
    ({"kind": "duckdb", "schema_name": "plants"}, "duckdb:data/purelink.duckdb?schema=plants", "duckdb"),
    ({"kind": "postgres", "url": "postgresql://etl@wh:5432/db", "schema_name": "raw"},
     "postgresql://etl@wh:5432/db?schema=raw", "postgres"),
    ({"kind": "postgres", "url": "postgresql://etl@wh:5432/db"}, "postgresql://etl@wh:5432/db", "postgres"),
    ({"url": "md:analytics", "credential": "MD"}, "md:analytics", "md"),
])
def test_older_destination_forms_read_into_urls(old, url, kind):
    choice = DestinationChoice.model_validate(old)
    assert choice.url == url and choice.kind == kind
    assert set(choice.model_dump()) == {"url", "credential", "airbyte_metadata"}
    assert DestinationChoice.model_validate(choice.model_dump()) == choice  # saved and read back


def test_open_picks_the_store_by_scheme_and_says_what_is_missing(tmp_path):
    assert isinstance(open_store("duckdb:data/x.duckdb", root=tmp_path), DuckDBStore)
    assert DuckDBStore("data/x.duckdb", root=tmp_path).target == str(tmp_path / "data" / "x.duckdb")
    assert DuckDBStore("duckdb:///srv/x.duckdb").target == "/srv/x.duckdb"
    pg = open_store("postgresql://etl@wh:5432/db?schema=raw&sslmode=disable", "WH")
    assert isinstance(pg, PostgresStore) and pg.schema == "raw" and pg.secret_names() == ["WH"]
    assert pg.connection_url == "postgresql://etl@wh:5432/db?sslmode=disable"  # libpq never sees `schema`
    with pytest.raises(PurelinkError, match="carries a password"):
        parse_url("postgresql://etl:hunter2@wh/db")
    with pytest.raises(PurelinkError, match="not a destination URL"):
        parse_url("mysql://wh/db")
    try:  # the other branch's stores plug in through the registry; until then, a clear sentence
        open_store("bigquery://project/dataset")
    except PurelinkError as exc:
        assert "bigquery" in exc.message and exc.guidance


def test_an_old_recipe_file_loads_and_generates_as_before(tmp_path):
    text = yaml.safe_dump({"name": "custs", "source": {"name": "stripe"}, "streams": [{"name": "customers"}],
                           "destination": {"kind": "postgres", "url": "postgresql://etl@wh:5432/db",
                                           "credential": "WH_PW", "schema_name": "raw"}})
    engine = Engine(tmp_path)
    recipe = engine.recipes.save(parse_recipe(text, origin="an old recipe"))
    module = engine.generate(recipe).read_text()
    assert 'url="postgresql://etl@wh:5432/db"' in module and 'password="WH_PW"' in module
    assert 'schema="raw"' in module and "?schema" not in module
    assert engine.recipes.load("custs").destination.url == "postgresql://etl@wh:5432/db?schema=raw"
