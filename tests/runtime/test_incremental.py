"""Incremental runs: no new data costs a request or two; new records arrive exactly once."""

from __future__ import annotations

import httpx


def create_customer(api, email: str) -> str:
    r = httpx.post(f"{api.stripe_base_url}/customers", data={"email": email, "name": "New Person"},
                   headers={"Authorization": f"Bearer {api.api_key}"})
    r.raise_for_status()
    return r.json()["id"]


def test_rerun_without_new_data_makes_few_requests(sandbox_factory, pipeline):
    api = sandbox_factory()
    p = pipeline(api)
    p.run()
    api.reset_stats()
    _, events, _ = p.run()
    stats = api.stats()
    assert stats["requests"] <= 3, stats
    finished = events[-1]
    assert finished["event"] == "finished" and finished["status"] == "success"
    assert p.query("SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0] == (3421, 3421)
    from purelink.execution.console import summary_text

    # the summary says why nothing loaded, rather than leaving "0 loaded" to be read as a failure
    assert finished["mode"] == "incremental" and finished["records"] == 0
    assert "records:     0 loaded, 0 rejected (nothing new at the source)" in summary_text(finished)


def test_new_records_are_loaded_once(sandbox_factory, pipeline):
    api = sandbox_factory()
    p = pipeline(api)
    p.run()
    new_ids = {create_customer(api, f"new{i}@example.com") for i in range(3)}
    _, events, _ = p.run()
    assert events[-1]["records"] >= 3
    assert p.query("SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0] == (3424, 3424)
    found = {r[0] for r in p.query("SELECT id FROM stripe.customers WHERE email LIKE 'new%@example.com'")}
    assert found == new_ids
    # the lookback re-reads the last hour; merging on the primary key keeps one row each
    p.run()
    assert p.query("SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0] == (3424, 3424)


def test_full_refresh_reloads_everything(sandbox_factory, pipeline):
    api = sandbox_factory(customers=500)
    p = pipeline(api)
    p.run()
    first = set(p.query("SELECT _purelink_run_id FROM stripe.customers"))
    _, events, _ = p.run("--full-refresh")
    assert events[0]["mode"] == "full_refresh"
    second = set(p.query("SELECT _purelink_run_id FROM stripe.customers"))
    assert first.isdisjoint(second) and len(second) == 1
    assert p.query("SELECT count(*) FROM stripe.customers")[0][0] == 500
