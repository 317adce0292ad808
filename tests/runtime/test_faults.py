"""Under failures and rate limits every record is loaded exactly once."""

from __future__ import annotations


def test_ten_percent_failures_and_a_rate_limit_load_every_record_once(sandbox_factory, pipeline):
    # 8 requests/s: the client's workers outrun it even on a machine so busy that each request
    # takes half a second (at 20/s a loaded machine never reached the limit, and no 429 came).
    api = sandbox_factory(customers=5000, fail_rate=0.1, rate_limit=8, seed=3)
    p = pipeline(api, rate_limit=200)  # the client is set far faster than the server allows
    _, events, _ = p.run()
    stats = api.stats()
    assert stats["server_errors"] > 0 and stats["rate_limited"] > 0, stats  # the faults really happened
    finished = events[-1]
    assert finished["status"] == "success"
    assert finished["retries"] > 0
    assert p.query("SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0] == (5000, 5000)


def test_rejected_key_fails_with_a_clear_message(sandbox_factory, pipeline, monkeypatch):
    api = sandbox_factory(customers=50)
    p = pipeline(api)
    p.env = lambda: {**__import__("os").environ, "STRIPE_API_KEY": "sk_test_wrongwrongwrong123"}
    code, events, _ = p.run(check=False)
    assert code == 1
    errors = [e for e in events if e["event"] == "error"]
    assert errors and "rejected the key" in errors[0]["message"]
    assert "sk_test_wrongwrongwrong123" not in "".join(map(str, events))
    assert events[-1]["status"] == "failed"


def test_restricted_key_names_the_stream_it_cannot_read(sandbox_factory, tmp_path):
    """A restricted key (customers only) loads customers and says plainly what it cannot read."""
    import os

    from purelink.engine import Engine
    from purelink.recipes import parse_recipe

    api = sandbox_factory(customers=200)
    engine = Engine(tmp_path)
    recipe = engine.recipes.save(parse_recipe(
        f"name: both\nsource: {{name: stripe, base_url: '{api.stripe_base_url}'}}\n"
        "streams: [{name: customers}, {name: charges}]\nrequirements: {history_start: 2020-01-01}\n"))
    result = engine.execute(recipe, executor="local", secrets={"STRIPE_API_KEY": api.restricted_key})
    done = result.finished
    assert done["status"] == "failed"
    assert done["streams"]["customers"] == {**done["streams"]["customers"], "status": "success", "records": 200}
    charges = done["streams"]["charges"]
    assert charges["status"] == "failed"
    assert "no permission to read charges" in charges["error"] and "drop the stream" in charges["error"]
    sample = engine.execute(recipe, executor="local", sample=5, db_path=tmp_path / "scratch.duckdb",
                            secrets={"STRIPE_API_KEY": api.restricted_key})
    checks = {c["name"]: c for c in sample.finished["checks"]}
    assert checks["credentials"]["status"] == "PASS"
    assert checks["permissions"] == {"name": "permissions", "status": "FAIL", "detail": "no read access to charges"}
    assert api.restricted_key not in str(done) + str(sample.finished) + "".join(result.output)
    assert "STRIPE_API_KEY" not in os.environ or os.environ["STRIPE_API_KEY"] != api.restricted_key
