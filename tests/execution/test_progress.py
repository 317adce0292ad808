"""The progress model against event sequences shaped like real runs: windows finishing out of
order, totals revised, retries, a resumed run. Time comes from the events' own timestamps, so
these sequences are exact and need no waiting."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from purelink.execution.progress import RunProgress, duration_text

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def windowed_run(total=3421, windows=8, page=100, per_page_s=0.5, seed=1, retries=0.0):
    """Events of a time-windowed run: `windows` windows paged concurrently, each page covering a
    share of its window proportional to its records (a uniform density, as the sandbox's data),
    pages arriving in a shuffled order across windows; `retries` = share of requests retried."""
    rng = random.Random(seed)
    sizes = [total // windows + (1 if i < total % windows else 0) for i in range(windows)]
    queues = [[min(page, size - k) for k in range(0, size, page)] for size in sizes]
    covered_records = 0
    records = 0
    requests = 0
    t = 0.0
    events = [{"event": "started", "ts": at(0), "run_id": "r", "pipeline": "p", "mode": "incremental",
               "destination": "data/p.duckdb", "rate_limit": 25}]
    while any(queues):
        i = rng.choice([k for k, q in enumerate(queues) if q])
        n = queues[i].pop(0)
        t += per_page_s / windows * rng.uniform(0.6, 1.4)
        requests += 1 + (1 if rng.random() < retries else 0)
        records += n
        covered_records += n
        events.append({"event": "page", "ts": at(t), "stream": "customers", "window": f"w{i}", "records": n,
                       "dead_letters": 0, "stream_records": records, "total_records": records,
                       "requests": requests, "progress": round(covered_records / total, 4)})
        if not queues[i]:
            events.append({"event": "window_done", "ts": at(t), "stream": "customers", "window": f"w{i}",
                           "progress": round(covered_records / total, 4)})
        if rng.random() < 0.2:
            events.append({"event": "heartbeat", "ts": at(t), "records": records, "requests": requests,
                           "progress": round(covered_records / total, 4), "errors": 0, "warnings": 0,
                           "storage_bytes": records * 300})
    events.append({"event": "finished", "ts": at(t + 0.2), "status": "success", "records": records,
                   "requests": requests, "dead_letters": 0, "storage_bytes": records * 300,
                   "destination": "data/p.duckdb"})
    return events, t


def replay(events, **options):
    clock = {"now": 0.0}
    progress = RunProgress(clock=lambda: clock["now"], **options)
    seen = []
    for event in events:
        clock["now"] = datetime.fromisoformat(event["ts"]).timestamp()
        progress.apply(event)
        seen.append((event, progress.fraction(), progress.eta_s(), progress.total()))
    return progress, seen


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("retries", [0.0, 0.3])
def test_percentage_never_decreases_and_ends_at_100(seed, retries):
    events, _ = windowed_run(seed=seed, retries=retries)
    progress, seen = replay(events)
    shown = [f for _, f, _, _ in seen]
    assert all(b >= a for a, b in itertools.pairwise(shown))
    assert max(shown[:-1]) <= 0.99  # 100% only when the run says it is done
    assert shown[-1] == 1.0
    assert progress.total() == (3421, False)
    assert progress.progress_text() == "3,421/3,421 (100%)"


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_eta_is_within_half_of_the_true_remaining_time_after_30_percent(seed):
    events, end = windowed_run(seed=seed, per_page_s=2.0)
    _, seen = replay(events)
    checked = 0
    for event, fraction, eta, _ in seen:
        if event["event"] != "page" or fraction < 0.3:
            continue
        true_left = end - (datetime.fromisoformat(event["ts"]) - T0).total_seconds()
        if true_left < 5:  # the last seconds: any ETA of a few seconds is honest
            continue
        assert eta is not None
        assert abs(eta - true_left) <= 0.5 * true_left, (fraction, eta, true_left)
        checked += 1
    assert checked > 5


def test_estimated_total_says_about_and_a_given_total_is_exact():
    events, _ = windowed_run()
    progress, _seen = replay(events[:12])
    total, estimate = progress.total()
    assert estimate and "about" in progress.progress_text()
    assert abs(total - 3421) < 0.3 * 3421
    exact = RunProgress()
    exact.apply(events[0])
    exact.apply({**events[1], "total_count": 3421})
    assert exact.total() == (3421, False)
    assert exact.progress_text().endswith(f"/3,421 ({exact.fraction():.0%})")
    assert "about" not in exact.progress_text()


def test_a_total_revised_up_never_takes_the_percentage_back():
    p = RunProgress(previous_records=100)  # the previous run's count is far too small: revised up
    p.apply({"event": "started", "ts": at(0), "rate_limit": 25})
    p.apply({"event": "page", "ts": at(1), "stream": "s", "stream_records": 50, "total_records": 50,
             "requests": 1, "progress": 0.02})
    first = p.fraction()
    assert first == pytest.approx(0.5, abs=0.01)  # 50 of about 100, the only guess so far
    p.apply({"event": "page", "ts": at(2), "stream": "s", "stream_records": 1000, "total_records": 1000,
             "requests": 10, "progress": 0.4})  # now the density says about 2,500
    assert p.total() == (2500, True)
    assert p.fraction() >= first  # held, not dropped to 40%
    p.apply({"event": "page", "ts": at(3), "stream": "s", "stream_records": 2400, "total_records": 2400,
             "requests": 24, "progress": 0.96})
    assert p.fraction() == pytest.approx(0.96, abs=0.01)


def test_previous_run_count_is_the_guess_before_density_says_anything():
    p = RunProgress(previous_records=3421)
    p.apply({"event": "started", "ts": at(0)})
    p.apply({"event": "page", "ts": at(1), "stream": "s", "stream_records": 10, "total_records": 10,
             "requests": 1, "progress": 0.001})
    assert p.total() == (3421, True)
    assert p.progress_text() == "10/about 3,400 (0%)"  # the previous run's 3,421, as a guess


@pytest.mark.parametrize("previous, truth", [(3000, 3000), (1500, 3000), (6000, 3000)])
def test_a_full_refresh_moves_from_the_last_full_count_to_the_density_as_records_come(previous, truth):
    """The last full run's count is the total while a tenth of the records are read (a density
    read off the first pages can be twice the truth), and gives way to the density by half way,
    whether the data grew or shrank since: half way through, the total is the density's."""
    p = RunProgress(previous_records=previous)
    p.apply({"event": "started", "ts": at(0)})
    early = truth * 2.5  # what the first pages' density says
    p.apply({"event": "page", "ts": at(1), "stream": "s", "records": 100, "stream_records": 100,
             "total_records": 100, "requests": 1, "progress": 0.02, "estimated_total": early})
    assert p.total() == (previous, True)
    half = min(previous, truth) // 2
    p.apply({"event": "page", "ts": at(2), "stream": "s", "records": 100, "stream_records": half,
             "total_records": half, "requests": 9, "progress": 0.5, "estimated_total": truth})
    assert p.total() == (truth, True)
    quarter_way = {"event": "page", "ts": at(3), "stream": "s", "records": 100, "requests": 10,
                   "progress": 0.5, "estimated_total": truth}
    q = RunProgress(previous_records=previous)
    q.apply({"event": "started", "ts": at(0)})
    q.apply({**quarter_way, "stream_records": 3 * half // 5, "total_records": 3 * half // 5})
    total, _ = q.total()  # 30% of the smaller guess read: half the way from the count to the density
    assert total == round((previous + truth) / 2)


def test_a_resumed_run_sizes_only_what_is_left():
    """Half the range was loaded by the stopped run: this run's records are the other half."""
    p = RunProgress()
    p.apply({"event": "started", "ts": at(0)})
    for i, covered in enumerate([0.52, 0.6, 0.7, 0.8], start=1):
        done = round((covered - 0.5) * 2000)
        p.apply({"event": "page", "ts": at(i), "stream": "s", "stream_records": done, "total_records": done,
                 "requests": i, "progress": covered})
    total, estimate = p.total()
    assert estimate and abs(total - 1000) <= 30


def test_request_rate_is_measured_over_the_limit_window_and_stays_within_it():
    """A token bucket of 25/s with its burst: pages land in clumps, never over 25/s on average."""
    p = RunProgress()
    p.apply({"event": "started", "ts": at(0), "rate_limit": 25})
    requests, t = 0, 0.0
    rng = random.Random(7)
    for _ in range(400):
        t += rng.choice([0.0, 0.0, 0.08, 0.12])  # clumps of answers, then gaps
        requests = min(requests + 1, int(25 * t + 2.5))  # what a 25/s bucket with burst 2.5 allows
        p.apply({"event": "page", "ts": at(t), "stream": "s", "stream_records": requests * 100,
                 "total_records": requests * 100, "requests": requests, "progress": 0.1})
        if t > 3:
            assert p.request_rate() <= 25 * 1.05
    assert "within limit of 25/s" in p.rate_text()


def test_errors_warnings_rejected_and_storage():
    p = RunProgress()
    for e in [{"event": "started", "ts": at(0), "destination": "data/stripe.duckdb"},
              {"event": "page", "ts": at(1), "stream": "s", "stream_records": 98, "total_records": 98,
               "dead_letters": 2, "requests": 1, "progress": 0.1},
              {"event": "warning", "ts": at(1), "message": "slow"},
              {"event": "error", "ts": at(2), "stream": "s", "message": "HTTP 500"},
              {"event": "heartbeat", "ts": at(2), "records": 98, "requests": 2, "storage_bytes": 250880,
               "errors": 1, "warnings": 1}]:
        p.apply(e)
    assert p.counts_text() == "Errors: 1 | Warnings: 1 | Rejected: 2"
    assert p.storage_text() == "245.0 KB -> data/stripe.duckdb"
    p.apply({"event": "finished", "ts": at(3), "status": "failed", "cause": {"message": "the API broke"}})
    assert p.status_text() == "failed: the API broke"


def test_an_api_that_stops_answering_is_said_in_the_status_until_a_page_comes():
    """Requests that get no answer are retried for seconds: the heartbeat carries what the run is
    doing, where the box said only RUNNING, 0.0 req/s and an ETA of 0 seconds."""
    from purelink_jupyter.monitor import RunState

    waiting = "cannot connect to http://127.0.0.1:9 (connection refused): attempt 2 of 8, retrying in 1 s"
    events = [{"event": "started", "ts": at(0), "destination": "d"},
              {"event": "page", "ts": at(1), "stream": "s", "stream_records": 100, "total_records": 100,
               "requests": 1, "progress": 0.5},
              {"event": "heartbeat", "ts": at(3), "records": 100, "requests": 1, "progress": 0.5, "waiting": waiting}]
    p, notebook = RunProgress(), RunState("t")
    for e in events:
        p.apply(e)
        notebook.apply(e)
    assert p.status_text() == f"RUNNING, {waiting}" and notebook.shown_status() == f"running, {waiting}"
    assert p.eta_text() == notebook.eta_text() == "unknown while the API does not answer"
    back = {"event": "page", "ts": at(4), "stream": "s", "stream_records": 200, "total_records": 200,
            "requests": 2, "progress": 1.0}
    p.apply(back)
    notebook.apply(back)
    assert p.status_text() == "RUNNING" and notebook.shown_status() == "running" and "unknown" not in p.eta_text()
    p.apply({"event": "heartbeat", "ts": at(5), "records": 200, "requests": 2, "progress": 1.0})
    assert p.status_text() == "RUNNING"


def test_final_states_read_as_words():
    stopped = RunProgress()
    stopped.apply({"event": "finished", "ts": at(1), "status": "stopped"})
    assert stopped.status_text("purelink recipes run x") == "stopped: resume with purelink recipes run x"
    nothing = RunProgress(previous_records=0)  # an incremental run that finds nothing new
    nothing.apply({"event": "started", "ts": at(0)})
    nothing.apply({"event": "page", "ts": at(1), "stream": "s", "records": 0, "stream_records": 0,
                   "total_records": 0, "requests": 1, "progress": 1.0, "estimated_total": 0})
    assert nothing.progress_text() == "0 records"
    nothing.apply({"event": "finished", "ts": at(2), "status": "success", "records": 0})
    assert nothing.progress_text() == "0 records"
    done = RunProgress()
    done.apply({"event": "finished", "ts": at(1), "status": "success", "records": 5})
    assert done.status_text() == "done" and done.eta_text() == "done"
    assert duration_text(135) == "2 minutes 15 seconds"
    assert (duration_text(1), duration_text(61), duration_text(3600)) == ("1 second", "1 minute 1 second",
                                                                          "1 hour 0 minutes")


def test_no_total_while_the_runtime_cannot_size_a_window_yet():
    """The runtime sends `estimated_total: null` while a window is unread: no total, no percentage
    from the time covered (empty windows cover time fast and would make the bar jump)."""
    p = RunProgress()
    p.apply({"event": "started", "ts": at(0)})
    p.apply({"event": "page", "ts": at(1), "stream": "s", "records": 100, "stream_records": 100,
             "total_records": 100, "requests": 3, "progress": 0.6, "estimated_total": None})
    p.apply({"event": "heartbeat", "ts": at(2), "records": 100, "requests": 3, "progress": 0.6})
    assert p.total() == (None, True) and p.fraction() == 0.0
    assert p.progress_text() == "100 records" and p.eta_text() == "estimating..."
    p.apply({"event": "page", "ts": at(3), "stream": "s", "records": 100, "stream_records": 200,
             "total_records": 200, "requests": 4, "progress": 0.65, "estimated_total": 1000})
    assert p.progress_text() == "200/about 1,000 (20%)"


def test_a_pause_is_not_counted_in_the_request_rate():
    """Answers on their way when the pause came arrive after it: over running time, still 2/s."""
    p = RunProgress()
    p.apply({"event": "started", "ts": at(0), "rate_limit": 2})
    for i in range(1, 11):
        p.apply({"event": "heartbeat", "ts": at(i), "records": 100 * 2 * i, "requests": 2 * i})
    p.pause()
    p.apply({"event": "heartbeat", "ts": at(30), "records": 2100, "requests": 21})  # 20 s paused
    p.resume()
    p.apply({"event": "page", "ts": at(31), "stream": "s", "records": 100, "stream_records": 2300,
             "total_records": 2300, "requests": 23})
    assert p.request_rate() <= 2 * 1.05 + 0.1
    assert p.rate_text() in ("2.0 req/s (within limit of 2/s)", "2.1 req/s (at the limit of 2/s)")


def test_the_first_request_is_within_the_limit_and_a_client_beyond_it_is_not():
    """A run allowed 2/s whose first answer comes 0.3 s after it started is one request in its first
    second, not 3.4/s: that is the bucket's one-request burst, not a breach (the notebook once said
    "expect 429s" there, and later "3.4 req/s (at the limit of 2/s)"). A client sending 10/s is
    flagged however short the span."""
    first = RunProgress()
    first.apply({"event": "started", "ts": at(0), "rate_limit": 2})
    first.apply({"event": "page", "ts": at(0.297), "stream": "s", "records": 0, "stream_records": 0,
                 "total_records": 0, "requests": 1})
    assert first.request_rate() == 1 and first.rate_text() == "1.0 req/s (within limit of 2/s)"
    for i in range(1, 6):
        first.apply({"event": "heartbeat", "ts": at(0.297 + 0.5 * i), "records": 0, "requests": 1 + i})
    assert "at the limit of 2/s" in first.rate_text()  # 6 requests in 2.8 s: 1 + 2/s
    for i in range(6, 30):
        first.apply({"event": "heartbeat", "ts": at(0.297 + 0.5 * i), "records": 0, "requests": 1 + i})
    assert first.rate_text() == "2.0 req/s (within limit of 2/s)"  # the burst is spread over 10 s now
    flooding = RunProgress()
    flooding.apply({"event": "started", "ts": at(0), "rate_limit": 2})
    for i in range(1, 4):
        flooding.apply({"event": "heartbeat", "ts": at(0.3 * i), "records": 0, "requests": 3 * i})
    assert "above the limit of 2/s: expect 429s" in flooding.rate_text()


def test_a_burst_the_connector_declares_is_at_the_limit_not_above_it():
    """Stripe's connector says its API takes a second of requests at once (burst_s: 1): at 2/s, 2 at
    the start and then 2 a second measure 4 in the first second, which is the burst, not a breach.
    Without the declared burst the same count is flagged."""
    for burst_s, expected in ((1, "at the limit of 2/s"), (None, "above the limit of 2/s: expect 429s")):
        p = RunProgress()
        p.apply({"event": "started", "ts": at(0), "rate_limit": 2, **({"burst_s": burst_s} if burst_s else {})})
        p.apply({"event": "heartbeat", "ts": at(0.5), "records": 0, "requests": 3})
        p.apply({"event": "heartbeat", "ts": at(1.0), "records": 0, "requests": 4})
        assert expected in p.rate_text(), (burst_s, p.rate_text())
