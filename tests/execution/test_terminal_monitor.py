"""`purelink recipes run` in a real pseudo-terminal against a slow sandbox: the spec's box, and
the keys. 'd' shows the event stream, 'p' stops requests reaching the API until 'p' again,
'q' stops with the state saved, so the next run resumes and loads every customer once.

The output of the run is kept in the artifact folder (artifacts/terminal/) to be looked at."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import duckdb
import pytest

CLI = [sys.executable, "-m", "purelink.cli"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "terminal"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")
CUSTOMERS = 3000  # 30 pages of 100
RATE = 2  # requests/s allowed by the recipe: the run takes about 15 s unless paused or stopped


class Terminal:
    """A command in a pseudo-terminal of 110x40; its screen output collected as it comes."""

    def __init__(self, args: list[str], cwd: Path, env: dict) -> None:
        main, child = pty.openpty()
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 110, 0, 0))
        self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=child, stdout=child, stderr=child,
                                     start_new_session=True, close_fds=True)
        os.close(child)
        self.fd = main
        self.raw = b""
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                data = b""
            with self._changed:
                if not data:
                    self.closed = True
                    self._changed.notify_all()
                    return
                self.raw += data
                self._changed.notify_all()

    closed = False

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw.decode(errors="replace"))

    def expect(self, pattern: str, after: int = 0, deadline_s: float = 180) -> int:
        """Wait until `pattern` (a regex) shows in the output past offset `after`; its end offset."""
        end = time.monotonic() + deadline_s
        with self._changed:
            while True:
                found = re.search(pattern, self.text[after:])
                if found:
                    return after + found.end()
                if self.closed or time.monotonic() > end:
                    pytest.fail(f"{pattern!r} never showed; the terminal shows:\n{self.text[-3000:]}")
                self._changed.wait(1.0)

    def press(self, key: str) -> None:
        os.write(self.fd, key.encode())

    def wait(self) -> int:
        code = self.proc.wait(timeout=300)
        with self._changed:
            while not self.closed:
                self._changed.wait(1.0)
        return code


def served(api) -> int:
    with urllib.request.urlopen(f"{api.url}/_sandbox/stats", timeout=30) as r:
        return json.load(r)["requests"]


def settled(api, quiet_s: float) -> int:
    """The request count once no answer is still on its way (one latency with no change)."""
    last = served(api)
    while True:
        time.sleep(quiet_s)
        now = served(api)
        if now == last:
            return now
        last = now


def test_the_box_and_its_keys_in_a_real_terminal(tmp_path, sandbox_factory):
    api = sandbox_factory(customers=CUSTOMERS, latency_ms=200)
    ws = tmp_path / "ws"
    ws.mkdir()
    env = {**os.environ, "STRIPE_API_KEY": api.api_key, "TERM": "xterm-256color", "COLUMNS": "110"}
    subprocess.run([*CLI, "recipes", "new", "custs", "--source", "stripe", "--streams", "customers",
                    "--base-url", api.stripe_base_url, "--executor", "local"], cwd=ws, env=env, check=True,
                   capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    recipe = ws / "recipes" / "custs_v1.yaml"
    text = recipe.read_text()
    recipe.write_text(re.sub(r"rate_limit: .*", f"rate_limit: {RATE}", text) if "rate_limit:" in text
                      else text.replace("requirements:", f"requirements:\n  rate_limit: {RATE}", 1))

    term = Terminal([*CLI, "recipes", "run", "custs", "--executor", "local"], ws, env)
    at = term.expect(r"Status: RUNNING")
    for line in [r"Progress: #*\.+ [\d,]+/(about )?[\d,]+ \(\d+%\)", r"Rate: [\d.]+ req/s \((within|at the) limit of 2/s\)",
                 r"ETA: (\d+ (minutes?|seconds?) ?)+", r"Errors: 0 \| Warnings: 0 \| Rejected: 0",
                 # a long path (pytest-xdist adds popen-gwN/ to tmp_path) goes on the box's next line
                 r"Storage: [\d.]+ (B|KB|MB) ->[\s│]*\S*purelink\.duckdb",
                 re.escape("Press 'q' to stop | 'p' to pause | 'd' for debug")]:
        term.expect(line, after=at)

    term.press("d")
    at = term.expect(r"debug: recent events", after=at)
    term.expect(r"\d\d:\d\d:\d\d\.\d+ page +\{", after=at)  # the event stream itself

    term.press("p")
    at = term.expect(r"Status: PAUSED", after=at)
    term.expect(r"paused: no request reaches the API", after=at)
    still = settled(api, quiet_s=0.6)  # answers already on their way when the pause came
    time.sleep(2)  # the one measured wait: nothing may reach the API while paused
    assert served(api) == still

    term.press("p")
    at = term.expect(r"resumed", after=at)
    deadline = time.monotonic() + 120
    while served(api) == still:  # requests flow again
        assert time.monotonic() < deadline, term.text[-2000:]
        time.sleep(0.1)

    term.press("q")
    term.expect(r"stopping: what it committed is kept", after=at)
    code = term.wait()
    screen = term.text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "recipes_run.txt").write_text(screen)
    (ARTIFACTS / "recipes_run.ansi").write_bytes(term.raw)
    assert "Status: stopped: resume with purelink recipes run custs" in screen
    assert "above the limit" not in screen  # the pause is not counted as time, nor its late answers as a burst
    assert "status:      stopped" in screen
    # a stop the user asked for is not a failure: 130 as an interrupt, and words that say so
    assert code == 130, screen[-2000:]
    assert "did not succeed" not in screen and "Traceback" not in screen
    assert "stopped:     at your request, not by an error; the state is saved" in screen
    committed = re.search(r"committed:   ([\d,]+) records before it stopped \(customers ([\d,]+)\)",
                          screen)
    assert committed, screen[-2000:]
    assert "resume:      purelink recipes run custs" in screen
    # the debug panel, still open, shows the last event whole (wrapped, not cut), as the log has it
    last_panel = screen[screen.rindex("debug: recent events"):].split("╰", 1)[0]
    panel = "".join(line.strip().removeprefix("│").removesuffix("│").strip() for line in last_panel.splitlines()[1:])
    logged = [json.loads(line) for log in (ws / "logs").glob("execution_*.log") for line in log.read_text().splitlines()]
    finished = next(e for e in reversed(logged) if e["event"] == "finished")
    whole = json.dumps({k: v for k, v in finished.items() if k not in ("run_id", "event", "ts")}, default=str,
                       separators=(",", ":"))
    assert len(whole) > 110 and re.sub(r"\s+", "", whole) in re.sub(r"\s+", "", panel), panel
    assert "…" not in panel

    db = ws / "data" / "purelink.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    loaded = con.execute("SELECT count(*) FROM stripe.customers").fetchone()[0]
    con.close()
    assert 0 < loaded < CUSTOMERS
    assert int(committed[1].replace(",", "")) == int(committed[2].replace(",", "")) == loaded

    again = subprocess.run([*CLI, "recipes", "run", "custs", "--executor", "local"], check=False, cwd=ws, env=env,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "an earlier run began and did not finish" in again.stdout + again.stderr
    assert "\x1b[" not in again.stdout + again.stderr  # not a terminal: plain lines
    con = duckdb.connect(str(db), read_only=True)
    rows, ids = con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone()
    landed = {r[0] for r in con.execute("SELECT id FROM stripe.customers").fetchall()}
    con.close()
    assert rows == ids == CUSTOMERS
    assert landed == source_ids(api)


def source_ids(api) -> set[str]:
    """Every customer id the API serves, read page by page: the source of truth."""
    ids: set[str] = set()
    params = {"limit": "100"}
    while True:
        query = urllib.parse.urlencode(params)
        request = urllib.request.Request(f"{api.stripe_base_url}/customers?{query}",
                                         headers={"Authorization": f"Bearer {api.api_key}"})
        with urllib.request.urlopen(request, timeout=60) as r:
            page = json.load(r)
        ids |= {c["id"] for c in page["data"]}
        if not page["has_more"]:
            return ids
        params["starting_after"] = page["data"][-1]["id"]


def test_the_summary_gives_no_share_of_nothing():
    """A run that loaded and rejected nothing (nothing new, or failed first) shows no percentage:
    "0 loaded (100.0% passed validation)" read as a claim about data there was none of."""
    from purelink.execution.console import summary_text

    nothing = summary_text({"status": "success", "records": 0, "dead_letters": 0})
    assert "records:     0 loaded, 0 rejected\n" in nothing and "passed validation" not in nothing
    failed = summary_text({"status": "failed", "mode": "incremental", "records": 0, "dead_letters": 0})
    assert "nothing new" not in failed  # a failed run does not know there was nothing new
    some = summary_text({"status": "success", "records": 3, "dead_letters": 1})
    assert "records:     3 loaded, 1 rejected (75.0% passed validation)" in some
    assert "requests:" not in some  # no HTTP client: a database source makes no requests to count
    assert "requests:    0 (0 retried, 0 rate-limited)" in summary_text({"status": "success", "requests": 0})
    busy = summary_text({"status": "success", "records": 9, "requests": 1204, "retries": 3, "throttled": 1500})
    assert "requests:    1,204 (3 retried, 1,500 rate-limited)" in busy
    # an API that never answered: not "0 requests (16 retried)", which reads as if nothing was tried
    down = summary_text({"status": "failed", "records": 0, "requests": 0, "retries": 16})
    assert "requests:    none answered (16 retries got no answer either)" in down
