"""Schema probe over real HTTP: 5 records, DuckDB-inferred types with nested paths, nullability
and examples, the preview and DDL files, and the column groups."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pytest

from purelink.catalog.spec import get_spec
from purelink.discovery.columns import GROUPS, default_selection, group_columns, select_groups
from purelink.discovery.probe import fetch_sample, probe_stream, table_ddl
from purelink.engine import Engine
from purelink.errors import CredentialError, SourceError
from purelink.recipes import Recipe, SourceChoice, StreamChoice


@pytest.fixture(scope="module")
def stripe():
    return get_spec("stripe")


def probe(stripe, small_sandbox, stream, workspace=None, **kw):
    return probe_stream(stripe, stream, secret=small_sandbox.api_key, base_url=small_sandbox.stripe_base_url,
                        workspace=workspace, **kw)


def test_five_records_typed_by_duckdb_with_nested_paths(stripe, small_sandbox, workspace):
    p = probe(stripe, small_sandbox, "customers", workspace)
    assert len(p.records) == 5 and p.name == "stripe_customers"
    cols = {c.path: c for c in p.columns}
    assert cols["id"].type == "VARCHAR" and not cols["id"].nullable
    assert cols["id"].examples[0].startswith("cus_")
    assert cols["balance"].type == "BIGINT"
    # the spec declares `created` a Unix time: the preview shows the table's type and the instants
    assert cols["created"].type == "TIMESTAMPTZ"
    first = datetime.fromtimestamp(p.records[0]["created"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert first in cols["created"].examples or len(cols["created"].examples) == 3
    assert all(e.endswith("Z") for e in cols["created"].examples)
    assert cols["delinquent"].type == "BOOLEAN"
    assert cols["address"].type.startswith("STRUCT(city VARCHAR") and cols["address"].nested
    assert cols["address.city"].type == "VARCHAR" and cols["address.city"].parent == "address"
    assert cols["address.city"].name == "address_city"
    assert cols["preferred_locales"].type == "VARCHAR[]" and cols["preferred_locales"].nested
    assert "invoice_settings.rendering_options.template" in cols  # three levels deep
    assert cols["test_clock"].note == "always null in the sample" and cols["test_clock"].nullable
    assert not any(c.heavy for c in p.columns)
    assert json.loads(p.preview_path.read_text()) == p.records
    assert p.preview_path == workspace / "samples" / "stripe_customers_preview.json"
    assert p.schema_path == workspace / "schemas" / "stripe_customers.sql"


def test_heavy_nested_lists_are_flagged(stripe, small_sandbox):
    p = probe(stripe, small_sandbox, "subscriptions")
    heavy = {c.path for c in p.columns if c.heavy}
    assert {"items", "items.data"} <= heavy
    assert all(c.note == "may slow extraction: a nested list of objects" for c in p.columns if c.heavy)
    assert not {"items", "items.data"} & set(default_selection(p.columns))


def test_sample_follows_pagination_and_limit(stripe, small_sandbox):
    records = fetch_sample(stripe, "charges", secret=small_sandbox.api_key, base_url=small_sandbox.stripe_base_url,
                           limit=3)
    assert len(records) == 3 and all(r["id"].startswith("ch_") for r in records)


def test_sampling_errors_say_what_to_do(stripe, small_sandbox):
    with pytest.raises(CredentialError, match="401"):
        probe_stream(stripe, "customers", secret="sk_test_notakeynotakey", base_url=small_sandbox.stripe_base_url)
    with pytest.raises(CredentialError, match="403"):
        probe_stream(stripe, "charges", secret=small_sandbox.restricted_key, base_url=small_sandbox.stripe_base_url)
    with pytest.raises(SourceError, match="Cannot fetch"):
        probe_stream(stripe, "customers", secret=small_sandbox.api_key, base_url="http://127.0.0.1:9/v1")


def test_column_groups_and_default_selection(stripe, small_sandbox):
    p = probe(stripe, small_sandbox, "customers")
    groups = group_columns(p.columns)
    assert list(groups) == list(GROUPS)
    names = {g: {c.path for c in cols} for g, cols in groups.items()}
    assert {"id", "created", "object", "livemode"} <= names["Core"]
    assert {"email", "name", "phone", "address", "address.city"} <= names["Contact"]
    assert {"balance", "currency", "metadata"} <= names["Business"]
    assert {"preferred_locales", "invoice_settings.footer"} <= names["Complex"]
    chosen = default_selection(p.columns)
    assert {"id", "email", "address.city", "balance", "metadata"} <= set(chosen)
    assert "address" not in chosen  # offered by its fields
    assert "metadata.crm_id" not in chosen  # metadata is kept whole
    assert not set(chosen) & names["Complex"]
    assert "preferred_locales" in select_groups(p.columns, ["complex"])
    with pytest.raises(ValueError, match="unknown column group"):
        select_groups(p.columns, ["money"])


@pytest.mark.parametrize("stream", ["charges", "invoices"])
def test_money_and_contact_fields_of_other_streams(stripe, small_sandbox, stream):
    groups = group_columns(probe(stripe, small_sandbox, stream).columns)
    business = {c.path for c in groups["Business"]}
    assert "currency" in business and any(p.startswith("amount") for p in business)
    assert any("email" in c.path for c in groups["Contact"])


def test_the_ddl_is_the_table_the_pipeline_creates(stripe, small_sandbox, workspace, monkeypatch):
    columns = ["id", "email", "name", "address.city", "created", "metadata", "preferred_locales"]
    p = probe(stripe, small_sandbox, "customers", workspace)
    ddl = p.ddl(columns)
    assert '"address_city" VARCHAR,  -- from address.city' in ddl
    assert '"metadata" JSON,  -- nested, stored as JSON' in ddl
    scratch = duckdb.connect()
    scratch.execute(ddl)
    expected = scratch.execute("SELECT column_name, data_type FROM duckdb_columns() "
                               "WHERE table_name = 'customers' ORDER BY column_index").fetchall()
    source = SourceChoice(name="stripe", base_url=small_sandbox.stripe_base_url, credential="STRIPE_API_KEY")
    recipe = Recipe(name="stripe_customers", source=source,
                    streams=[StreamChoice(name="customers", columns=columns)], executor="local")
    engine = Engine(workspace)
    engine.recipes.save(recipe)
    monkeypatch.setenv("STRIPE_API_KEY", small_sandbox.api_key)
    result = engine.execute("stripe_customers", sample=5, db_path=workspace / "scratch.duckdb")
    assert result.ok, result.output
    con = duckdb.connect(str(workspace / "scratch.duckdb"), read_only=True)
    actual = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'stripe' "
                         "AND table_name = 'customers' ORDER BY column_index").fetchall()
    con.close()
    assert actual == expected


def test_ddl_without_primary_key_or_columns():
    ddl = table_ddl("acme", "things", [{"a": 1, "b": {"c": 2}}], None, ())
    assert "appended (no primary key)" in ddl and '"b" JSON' in ddl
    duckdb.connect().execute(ddl)
