"""MotherDuck cannot be reached from here. What is tested: an `md:` URL goes through DuckDB's own
code path (the runtime's DuckDBDestination with an `md:` path), its token is read from the vault by
name and handed to DuckDB as `motherduck_token`, never put in the path, the module or a message;
offline, it fails with a PurelinkError that says what to do."""

from __future__ import annotations

import uuid

import pytest

from purelink.errors import PurelinkError, RuntimeFailure
from purelink.runtime.destinations.duckdb import DuckDBDestination
from purelink.secrets.vault import Vault
from purelink.storage import DuckDBStore, MotherDuckStore
from purelink.storage import open as open_store


def test_an_md_url_is_a_duckdb_store_with_its_token_by_name(monkeypatch):
    token = "md_CANARY" + uuid.uuid4().hex
    Vault().set("team_md", token)
    monkeypatch.delenv("MOTHERDUCK_TOKEN", raising=False)
    store = open_store("md:analytics", "team_md")
    assert isinstance(store, MotherDuckStore) and isinstance(store, DuckDBStore)
    assert store.location() == "md:analytics" and store.secret_names() == ["team_md"]
    cls, kwargs = store.runtime_call(schema="stripe")
    assert cls == "DuckDBDestination" and kwargs["path"] == "md:analytics" and kwargs["token"] == "team_md"
    destination = store.destination()
    assert isinstance(destination, DuckDBDestination) and destination.remote
    assert token not in destination.location()
    with pytest.raises(RuntimeFailure) as failed:  # DuckDB's loader cannot download the extension here
        destination.open()
    assert "MotherDuck" in failed.value.message and "internet" in failed.value.guidance
    assert token not in failed.value.paragraph()


def test_offline_reads_fail_with_what_to_do(monkeypatch):
    token = "md_CANARY" + uuid.uuid4().hex
    monkeypatch.setenv("MOTHERDUCK_TOKEN", token)
    store = MotherDuckStore("md:analytics")
    for read in (store.tables, lambda: store.table("stripe.customers"), lambda: store.query("SELECT 1")):
        with pytest.raises(PurelinkError) as failed:
            read()
        text = failed.value.paragraph()
        assert "MotherDuck" in text and "duckdb:" in failed.value.guidance and token not in text


def test_without_a_token_it_says_which_secret_to_set(monkeypatch):
    monkeypatch.delenv("MOTHERDUCK_TOKEN", raising=False)
    with pytest.raises(RuntimeFailure) as failed:
        MotherDuckStore("md:analytics").tables()
    assert "MOTHERDUCK_TOKEN" in failed.value.paragraph()


def test_a_url_of_another_kind_is_not_a_motherduck_store():
    with pytest.raises(PurelinkError):
        MotherDuckStore("duckdb:data/x.duckdb")
