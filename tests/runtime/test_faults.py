"""Under failures and rate limits every record is loaded exactly once."""

from __future__ import annotations


def test_ten_percent_failures_and_20_rps_limit_load_every_record_once(sandbox_factory, pipeline):
    api = sandbox_factory(customers=5000, fail_rate=0.1, rate_limit=20, seed=3)
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
