"""A recipe allowed more requests than the server takes: the monitor says the API is rate limiting
(not "within limit" of the recipe's own figure), the count matches the server's, and every record
lands once."""

from __future__ import annotations

import duckdb

from purelink.engine import Engine
from purelink.execution.progress import RunProgress
from purelink.recipes import parse_recipe


def test_the_monitor_says_when_the_api_rate_limits_and_counts_its_429s(tmp_path, sandbox_factory):
    api = sandbox_factory(customers=1500, rate_limit=5)
    engine = Engine(tmp_path)
    recipe = engine.recipes.save(parse_recipe(
        f"name: strict\nsource: {{name: stripe, base_url: '{api.stripe_base_url}'}}\n"
        "streams: [{name: customers}]\nrequirements: {history_start: 2020-01-01, rate_limit: 50}\n"))
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
    con = duckdb.connect(str(tmp_path / "data" / "purelink.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone() == (1500, 1500)
    finally:
        con.close()
