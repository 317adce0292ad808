"""The live monitor: events folded into what a person reads, widgets, buttons and the text fallback."""

from __future__ import annotations

import io
import time

import pytest

from purelink_jupyter.monitor import LiveMonitor, RunState, TextMonitor


def at(seconds: float) -> str:
    return f"2026-01-01T00:00:{seconds:06.3f}+00:00"


EVENTS = [
    {"event": "started", "ts": at(0), "run_id": "r1", "pipeline": "stripe_customers", "mode": "incremental",
     "destination": "data/purelink.duckdb", "rate_limit": 25, "streams": ["customers"]},
    {"event": "page", "ts": at(2), "stream": "customers", "stream_records": 100, "total_records": 100,
     "requests": 4, "progress": 0.05, "estimated_total": 3400},
    {"event": "window_done", "ts": at(10), "stream": "customers", "windows_done": 3, "windows_total": 8,
     "progress": 0.375},
    {"event": "warning", "ts": at(11), "stream": "customers", "message": "resuming an interrupted sync"},
    {"event": "heartbeat", "ts": at(20), "records": 1800, "requests": 450, "progress": 0.52,
     "storage_bytes": 2_500_000},
    {"event": "error", "ts": at(21), "stream": "charges", "message": "no permission"},
    {"event": "finished", "ts": at(30), "status": "success", "records": 3421, "requests": 36, "duration_s": 2.5,
     "storage_bytes": 3_000_000, "destination": "data/purelink.duckdb",
     "streams": {"customers": {"records": 3421, "status": "success"}}},
]


class FakeHandle:
    def __init__(self):
        self.calls = []
        self.output = ["plain line"]

    def stop(self, grace_s=10.0):
        self.calls.append("stop")

    def pause(self):
        self.calls.append("pause")

    def resume(self):
        self.calls.append("resume")


def test_state_follows_the_events():
    s = RunState("stripe_customers v1")
    for e in EVENTS[:5]:
        s.apply(e)
    assert (s.status, s.records, round(s.progress, 3)) == ("running", 1800, 0.529)
    assert 15 < s.eta_s < 19  # 1,600 records left at about 94 records/s
    assert s.progress_text() == "1,800/about 3,400 (53%)"
    assert s.rate_text() == "25 req/s (within limit of 25/s)"  # 446 requests in the last 18 s
    assert s.windows_text() == "3 of 8 time windows"
    assert s.storage_text() == "2.4 MB -> data/purelink.duckdb"
    assert s.warnings == ["customers: resuming an interrupted sync"]
    for e in EVENTS[5:]:
        s.apply(e)
    assert s.done and s.progress == 1.0 and s.records == 3421 and s.errors == ["charges: no permission"]
    assert "done, 3,421/3,421 (100%)" in s.line()
    assert "Errors: 1 | Warnings: 1 | Rejected: 0" in s.line()


def test_widgets_show_progress_figures_and_the_summary():
    m = LiveMonitor("stripe_customers v1", every_s=0)
    for e in EVENTS[:5]:
        m(e)
    assert (m.bar.value, m.bar.description) == (53, "53%")
    assert "1,800</span>/about 3,400 (53%)" in m.figures.value and "25 req/s (within limit of 25/s)" in m.figures.value
    assert "resuming an interrupted sync" in m.figures.value and "2.4 MB" in m.figures.value
    for e in EVENTS[5:]:
        m(e)
    m.finish()
    assert (m.bar.value, m.bar.bar_style) == (100, "success")
    assert "3,421 loaded" in m.summary.value and ">done<" in m.header.value
    bundle = m._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "status:      success" in bundle["text/plain"]  # what a viewer without widgets shows


def test_the_bar_never_goes_back_when_the_estimate_grows():
    m = LiveMonitor("x", every_s=0)
    m(EVENTS[0])
    shown = []
    for i, (records, estimate) in enumerate([(500, 1000), (600, 3000), (900, 3000), (2900, 3000)], start=1):
        m({"event": "page", "ts": at(i), "stream": "customers", "stream_records": records,
           "total_records": records, "requests": i, "progress": 0.1 * i, "estimated_total": estimate})
        shown.append(m.bar.value)
    assert shown == [50, 50, 50, 97]


@pytest.mark.parametrize(("finished", "words"), [
    ({"status": "stopped", "records": 700}, "stopped: resume with %purelink run stripe_customers"),
    ({"status": "failed", "cause": {"message": "the key was rejected"}}, "failed: the key was rejected"),
])
def test_after_the_run_the_buttons_are_off_and_the_final_state_is_told(finished, words):
    m = LiveMonitor("x", every_s=0)
    m.attach(FakeHandle())
    m(EVENTS[0])
    m(EVENTS[1])
    m.finish({"event": "finished", "ts": at(5), **finished})
    assert m.stop_button.disabled and m.pause_button.disabled
    assert words in m.header.value


def test_buttons_drive_the_run():
    m, h = LiveMonitor("x"), FakeHandle()
    assert m.stop_button.disabled  # nothing to stop yet
    m.attach(h)
    m(EVENTS[0])
    m.pause_button.click()
    assert h.calls == ["pause"] and m.state.status == "paused" and m.pause_button.description == "Resume"
    m.pause_button.click()
    assert h.calls == ["pause", "resume"] and m.state.status == "running"
    m.pause_button.click()
    m.stop_button.click()  # a paused run is resumed first, or it never sees SIGTERM
    deadline = time.monotonic() + 5
    while "stop" not in h.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert h.calls == ["pause", "resume", "pause", "resume", "stop"]
    assert m.stop_button.disabled and m.state.status == "stopping"


def test_debug_shows_recent_events_and_output():
    m = LiveMonitor("x")
    m.attach(FakeHandle())
    m(EVENTS[0])
    assert m.debug.layout.display == "none"
    m.debug_button.value = True
    assert m.debug.layout.display == "block"
    assert "&quot;run_id&quot;: &quot;r1&quot;" in m.debug.value and "plain line" in m.debug.value


def test_a_run_that_died_without_finishing_shows_failed():
    m = LiveMonitor("x")
    m(EVENTS[0])
    m.finish({"status": "failed", "error": "exit code 137", "records": 0, "streams": {}})
    assert m.bar.bar_style == "danger" and "exit code 137" in m.summary.value


@pytest.mark.parametrize("every_s", [0.0, 60.0])
def test_text_monitor_prints_lines_and_the_summary(every_s):
    out = io.StringIO()
    m = TextMonitor("stripe_customers v1", out=out, every_s=every_s)
    for e in EVENTS:
        m(e)
    m.finish()
    text = out.getvalue()
    assert "run r1 (incremental) -> data/purelink.duckdb" in text
    assert "warning: customers: resuming" in text and "error: charges: no permission" in text
    assert "3,421 loaded" in text
    assert ("53%" in text) == (every_s == 0.0)


def test_a_failure_is_shown_once_with_its_cause_what_to_do_and_what_was_committed():
    cause = {"kind": "api_unreachable", "message": "The API at http://api/v1/customers stopped answering",
             "guidance": "Check that the API is up, then re-run.", "url": "http://api/v1/customers",
             "stream": "customers"}
    down = {"event": "error", "stream": "customers", "message": cause["message"], "cause": cause}
    out = io.StringIO()
    m = TextMonitor("stripe_customers v1", out=out, every_s=0)
    for event in [EVENTS[0], down, down, down]:
        m(event)
    m.finish({"status": "failed", "records": 700, "committed": 700, "duration_s": 3.0, "cause": cause,
              "error": cause["message"], "streams": {"customers": {"records": 700, "committed": 700,
                                                                   "status": "failed", "cause": cause}}})
    text = out.getvalue()
    assert m.state.errors == [("customers: The API at http://api/v1/customers stopped answering — "
                               "Check that the API is up, then re-run.")]
    assert text.count("error: customers: The API") == 1
    assert "cause:       The API at http://api/v1/customers stopped answering" in text
    assert "what to do:  Check that the API is up, then re-run." in text
    assert "committed:   700 records before it failed (customers 700). A re-run resumes" in text
    assert m.state.status == "failed"
