"""Salesforce runs are incremental by SystemModstamp: the bound is written into the SOQL itself."""

from __future__ import annotations

from purelink.engine import Engine
from purelink.recipes import parse_recipe


def test_a_second_run_asks_only_for_what_changed_since_the_first(sandbox_factory, tmp_path):
    api = sandbox_factory(customers=300)
    sf = api.sources()["salesforce"]
    engine = Engine(tmp_path)
    recipe = engine.recipes.save(parse_recipe(
        f"name: crm\nsource: {{name: salesforce, base_url: '{sf['base_url']}', credential: SF_TOKEN}}\n"
        "streams: [{name: contacts}]\nrequirements: {history_start: 2020-01-01, lookback_s: 0}\n"))
    module = engine.generate(recipe).read_text()
    assert 'template="q"' in module and "gte=None" in module and "{gte}" in module

    first = engine.execute(recipe, executor="local", secrets={"SF_TOKEN": sf["api_key"]})
    assert first.ok, first.finished
    loaded = first.finished["streams"]["contacts"]["records"]
    assert loaded > 0

    api.reset_stats()
    second = engine.execute(recipe, executor="local", secrets={"SF_TOKEN": sf["api_key"]})
    assert second.ok, second.finished
    # Only rows at the newest SystemModstamp already seen come back (the bound is inclusive);
    # a full re-read would return every contact again.
    assert second.finished["streams"]["contacts"]["records"] < loaded / 10
    assert api.stats()["requests"] <= 2
    tables = engine.tables(recipe)
    assert len(tables["contacts"]) == loaded and tables["contacts"]["Id"].is_unique
