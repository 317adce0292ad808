"""Faults the sandbox injects on purpose: rate limit, failures, latency, schema drift."""

from __future__ import annotations

import time

import httpx

from purelink.sandbox import serve


def test_rate_limit_answers_429_with_retry_after():
    with serve(customers=20, rate_limit=5) as sb, httpx.Client(auth=(sb.api_key, "")) as client:
        start = time.monotonic()
        responses = [client.get(f"{sb.stripe_base_url}/customers") for _ in range(20)]
        elapsed = time.monotonic() - start
        limited = [r for r in responses if r.status_code == 429]
        served = len(responses) - len(limited)
        assert limited and all(r.status_code in (200, 429) for r in responses)
        assert 5 <= served <= 5 + 5 * elapsed + 1  # burst of 5, then 5 per second
        wait = float(limited[-1].headers["retry-after"])
        assert 0 < wait <= 0.2 + 1e-9
        error = limited[-1].json()["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "rate_limit"
        assert limited[-1].headers["request-id"].startswith("req_")
        time.sleep(wait)
        assert client.get(f"{sb.stripe_base_url}/customers").status_code == 200
        stats = sb.stats()
        assert stats["rate_limited"] == len(limited) and stats["requests"] == 21
        assert client.get(f"{sb.url}/_sandbox/stats").status_code == 200  # never limited


def test_fail_rate_gives_retryable_500s_in_a_seeded_pattern():
    def pattern(seed: int) -> list[int]:
        with serve(customers=10, fail_rate=0.3, seed=seed) as sb, httpx.Client(auth=(sb.api_key, "")) as client:
            responses = [client.get(f"{sb.stripe_base_url}/customers") for _ in range(60)]
            failed = [r for r in responses if r.status_code == 500]
            assert failed and all(r.headers["stripe-should-retry"] == "true" for r in failed)
            assert all(r.json()["error"]["type"] == "api_error" for r in failed)
            assert sb.stats()["server_errors"] == len(failed)
            return [r.status_code for r in responses]
    first = pattern(3)
    assert 8 <= first.count(500) <= 30
    assert pattern(3) == first


def test_latency_is_added_to_api_responses():
    with serve(customers=5, latency_ms=150) as sb, httpx.Client(auth=(sb.api_key, "")) as client:
        start = time.perf_counter()
        assert client.get(f"{sb.stripe_base_url}/customers").status_code == 200
        assert time.perf_counter() - start >= 0.15
        start = time.perf_counter()
        client.get(f"{sb.url}/_sandbox/stats")
        assert time.perf_counter() - start < 0.15


def test_drift_after_changes_late_records():
    with serve(customers=200, drift_after=150) as sb, httpx.Client(auth=(sb.api_key, "")) as client:
        rows = []
        for after in (None, "x"):
            params = {"limit": 100} | ({"starting_after": rows[-1]["id"]} if after else {})
            rows += client.get(f"{sb.stripe_base_url}/customers", params=params).json()["data"]
        oldest_first = rows[::-1]
        assert len(oldest_first) == 200
        assert all("loyalty_tier" not in r and isinstance(r["balance"], int) for r in oldest_first[:150])
        assert all(isinstance(r["loyalty_tier"], str) and isinstance(r["balance"], float)
                   for r in oldest_first[150:])
        charges = client.get(f"{sb.stripe_base_url}/charges", params={"limit": 1}).json()["data"]
        assert isinstance(charges[0]["amount"], float) and "loyalty_tier" in charges[0]
        made = client.post(f"{sb.stripe_base_url}/customers", data={"name": "Late"}).json()
        assert "loyalty_tier" in made and isinstance(made["balance"], float)
    with serve(customers=200) as sb, httpx.Client(auth=(sb.api_key, "")) as client:
        plain = client.get(f"{sb.stripe_base_url}/customers", params={"limit": 100}).json()["data"]
        assert not any("loyalty_tier" in r for r in plain)
