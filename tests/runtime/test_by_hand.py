"""A generated module run by hand, as a data engineer runs it: `python pipelines/NAME.py` in a
terminal (a real pseudo-terminal here), against the sandbox over HTTP. On a terminal it prints
lines a person reads and, on failure, the cause and what to do, within seconds; piped, or with
`--json`, it prints the JSON lines the purelink command, the runners and the notebook parse."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
import time

import httpx
import pytest

from purelink.execution.progress import RunProgress
from purelink.runtime.events import KINDS
from purelink.runtime.http import HttpClient, RetryPolicy
from purelink.runtime.readable import ReadableEvents


def in_terminal(pipeline, *args: str, env: dict | None = None, timeout_s: float = 120) -> tuple[int, str, float]:
    """Run the module with stdout and stderr on a pseudo-terminal (stdin from /dev/null): its exit
    status, everything it wrote, and the seconds it took."""
    environ = {k: v for k, v in pipeline.env().items() if k not in ("PURELINK_EVENTS", "PURELINK_PARENT_PIPE")}
    master, slave = pty.openpty()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(pipeline.module), *args], cwd=pipeline.workspace,
                            env={**environ, **(env or {})}, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    out = bytearray()
    try:
        while True:
            left = started + timeout_s - time.monotonic()
            ready, _, _ = select.select([master], [], [], max(0.0, left))
            if not ready:
                proc.kill()
                pytest.fail(f"no end after {timeout_s} s; it wrote:\n{out.decode(errors='replace')}")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            out += chunk
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
    return code, out.decode().replace("\r\n", "\n"), time.monotonic() - started


def json_lines(text: str) -> list[dict]:
    """Every line an event, written as the runtime writes it (compact JSON), or the test fails."""
    events = []
    for line in text.splitlines():
        event = json.loads(line)
        assert line == json.dumps(event, separators=(",", ":")), line
        assert event["event"] in KINDS, line
        events.append(event)
    return events


def test_a_run_by_hand_in_a_terminal_reads_as_text_and_its_summary_matches_the_table(pipeline, sandbox_factory):
    truth = 2400
    api = sandbox_factory(customers=truth, latency_ms=40)
    p = pipeline(api, rate_limit=10)  # about 30 pages at 10/s: long enough for progress lines
    code, text, took = in_terminal(p)
    assert code == 0, text
    lines = text.splitlines()
    assert not [line for line in lines if line.lstrip().startswith("{")], text  # no JSON for a person
    assert lines[0] == f"stripe_customers v1: stripe (customers) -> {p.db}", text
    assert "Ctrl-C stops it" in lines[1], text
    # Progress every few seconds (the first after 2 s), not one line per page.
    progress = [line for line in lines if re.match(r"^\s+\d+ s  [\d,]+ records", line)]
    assert 1 <= len(progress) <= took / 5 + 2, text
    rows, distinct = p.query("SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0]
    assert rows == distinct == truth
    assert "status:      success" in text, text
    assert f"records:     {truth:,} loaded, 0 rejected" in text, text
    assert re.search(rf"^  customers\s+{truth:,}  success$", text, re.MULTILINE), text
    assert f"storage:     {p.db} (" in text, text
    assert api.api_key not in text
    # A full refresh by hand says, as the monitors do, the last full read's count from the start.
    code, text, _ = in_terminal(p, "--full-refresh")
    assert code == 0 and "run " in text and "(full refresh)" in text, text
    progress = [line for line in text.splitlines() if re.match(r"^\s+\d+ s  [\d,]+ records", line)]
    shown = [int(m.group(1).replace(",", "")) for m in map(re.compile(r"of about ([\d,]+)").search, progress) if m]
    assert progress and len(shown) == len(progress), text  # a first run's density waits for a tenth
    assert all(abs(n - truth) <= truth / 4 for n in shown), text
    assert p.query("SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0] == (truth, truth)


def test_a_run_by_hand_against_a_stopped_api_says_why_and_what_to_do_within_seconds(pipeline, sandbox_factory):
    api = sandbox_factory(customers=50)
    p = pipeline(api)
    origin = api.stripe_base_url.rsplit("/v1", 1)[0]
    api.stop()  # nothing listens at the URL now: connection refused
    code, text, took = in_terminal(p)
    assert code == 1, text
    assert f"cannot connect to {origin} (connection refused): attempt 1 of 3, retrying in 1 s" in text, text
    assert f"cannot connect to {origin} (connection refused): attempt 2 of 3, retrying in 2 s" in text, text
    assert "status:      failed" in text, text
    assert re.search(r"^cause: .*Connection refused", text, re.MULTILINE), text
    # It never answered: said as such, by the server's address (not "stopped answering")
    assert f"cause:       Cannot connect to the API at {origin} while loading customers" in text, text
    assert "what to do:  Check that the API is up" in text, text
    assert not [line for line in text.splitlines() if line.startswith("{")], text
    # 1 s + 2 s of waiting by design, plus starting Python and opening DuckDB (about 1 s here);
    # before, 8 attempts with backoff kept a person waiting 10-30 s without a word.
    assert took < 10, (took, text)


def test_piped_or_with_json_the_module_prints_only_json_lines(pipeline, small_sandbox):
    p = pipeline(small_sandbox)
    proc = subprocess.run([sys.executable, str(p.module)], cwd=p.workspace, env=p.env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    piped = json_lines(proc.stdout)
    assert piped[0]["event"] == "started" and piped[-1]["event"] == "finished" and piped[-1]["records"] == 150
    # On a terminal too, when asked: `--json`, or PURELINK_EVENTS=json (a Docker run with a tty).
    code, text, _ = in_terminal(p, "--json", "--full-refresh")
    assert code == 0, text
    assert json_lines(text)[-1]["records"] == 150
    code, text, _ = in_terminal(p, "--full-refresh", env={"PURELINK_EVENTS": "json"})
    assert code == 0, text
    assert json_lines(text)[-1]["records"] == 150


def test_once_a_request_gave_up_connecting_the_others_do_not_wait_out_their_backoff(unused_port):
    class Steady(RetryPolicy):  # a fixed wait, so the times below are exact
        def delay(self, response, attempt) -> float:
            return 1.0

    client = HttpClient(f"http://127.0.0.1:{unused_port}", retry=Steady(max_attempts=3))
    ended: dict[str, float] = {}
    began = time.monotonic()

    def request(name: str, after_s: float) -> None:
        time.sleep(after_s)
        with pytest.raises(httpx.ConnectError):
            client.get("/customers")
        ended[name] = time.monotonic() - began

    # `first` tries at 0, 1 and 2 s and gives up; `second` starts at 1.5 s and, alone, would try
    # again at 2.5 and 3.5 s. It ends when `first` gives up instead.
    threads = [threading.Thread(target=request, args=a) for a in (("first", 0.0), ("second", 1.5))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    client.close()
    assert 1.9 < ended["first"] < 2.6, ended
    assert ended["second"] < 2.9, ended


def test_what_a_run_waits_for_is_the_retry_furthest_along_until_an_answer_or_a_give_up(unused_port):
    """The heartbeat carries `client.waiting` to the monitors. With 8 workers retrying, the latest
    retry's words stepped back and forth ("attempt 1 of 8, retrying in 0.1 s" after "attempt 3 of 8,
    retrying in 2 s"), and a request that gave up left them behind next to the stream's error."""
    client = HttpClient(f"http://127.0.0.1:{unused_port}", retry=RetryPolicy(max_attempts=4))
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    url = f"http://127.0.0.1:{unused_port}/v1/customers"
    client.answered = True  # a run under way: the policy's own attempts, not the first connection's
    shown = []
    for attempt in (1, 2, 3, 1, 2):  # one worker three retries in, another starting over
        client._unreachable(refused, url, attempt)
        shown.append(client.waiting)
    assert [re.search(r"attempt (\d) of 4", w).group(1) for w in shown] == ["1", "2", "3", "3", "3"]
    assert shown[-1].startswith(f"cannot connect to http://127.0.0.1:{unused_port} (")
    with pytest.raises(httpx.ConnectError):  # the furthest one gives up: its stream fails, told by the error
        client._unreachable(refused, url, 4)
    assert client.waiting is None
    client.close()


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_by_hand_the_total_is_the_monitors_total():
    """The lines a module prints by hand fold the events as the monitors do: a full refresh says
    the last full read's count while the first pages' density is twice the truth."""
    out = io.StringIO()
    events = ReadableEvents("r1", out, every_s=0.0, first_s=0.0)
    monitor = RunProgress()
    sent = [events.emit("started", pipeline="p", version=1, source="stripe", streams=["customers"],
                        destination="data/x.duckdb", mode="full_refresh", previous_records=3000),
            events.emit("page", stream="customers", records=100, stream_records=100, total_records=100,
                        requests=1, progress=0.05, estimated_total=6000),
            events.emit("page", stream="customers", records=100, stream_records=1500, total_records=1500,
                        requests=15, progress=0.5, estimated_total=3100)]
    for event in sent:
        monitor.apply(event)
    lines = [line for line in out.getvalue().splitlines() if " records" in line]
    assert lines[0].endswith(" 100 records of about 3,000"), lines  # not the first pages' 6,000
    assert lines[1].endswith(" 1,500 records of about 3,100"), lines
    assert monitor.progress_text() == "1,500/about 3,100 (48%)"
