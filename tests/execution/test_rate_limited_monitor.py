"""A recipe allowed more requests than the server takes: the monitor says the API is rate limiting
(not "within limit" of the recipe's own figure), the count matches the server's, and every record
lands once."""

from __future__ import annotations

from purelink.execution.progress import RunProgress
from tests.conftest import customers_recipe, duckdb_rows


def test_the_monitor_says_when_the_api_rate_limits_and_counts_its_429s(tmp_path, sandbox_factory):
    api = sandbox_factory(customers=1500, rate_limit=5)
    engine, recipe = customers_recipe(tmp_path, api, "strict", rate_limit=50)
    progress, said = RunProgress(), []

    def on_event(event):
        progress.apply(event)
        said.append(progress.rate_text())

    result = engine.start(recipe, executor="local", secrets={"STRIPE_API_KEY": api.api_key}).collect(on_event=on_event)
    assert result.ok, result.finished
    server = api.stats()["rate_limited"]
    assert server > 0 and result.finished["throttled"] == server == progress.throttled
    limited = [s for s in said if "rate limited by the API" in s]
    assert limited and limited[-1].endswith("answered 429 so far)")
    assert said[-1] == progress.rate_text() and f"rate limited by the API: {server:,} answered 429" in said[-1]
    assert duckdb_rows(tmp_path / "data" / "purelink.duckdb",
                       "SELECT count(*), count(DISTINCT id) FROM stripe.customers") == [(1500, 1500)]
