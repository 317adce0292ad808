"""The notebook monitor in a real JupyterLab driven by Chromium, against a slow sandbox: the bar
never goes back, and once past 30% the ETA is within half of the time the run really took to
finish. Screenshots of the monitor early, midway and at the end go to PURELINK_ARTIFACTS (or
artifacts/screenshots/ at the repository root) for a person to look at."""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.jupyter.test_browser import KERNEL, open_and_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 4000  # 40 pages at 2 requests/s: a run of about 25 s

READ = """() => {
    const m = document.querySelector('.purelink-monitor');
    if (!m) return null;
    const text = (sel) => (m.querySelector(sel) || {}).innerText || '';
    const bar = m.querySelector('.widget-hprogress .progress-bar');
    return {status: text('.purelink-status'), progress: text('.purelink-progress'), eta: text('.purelink-eta'),
            rate: text('.purelink-rate'), counts: text('.purelink-counts'), storage: text('.purelink-storage'),
            bar: bar ? parseFloat(bar.style.width) : null};
}"""


def seconds(eta: str) -> float | None:
    """'1 minutes 5 seconds' -> 65; None for 'estimating...', 'paused', 'done'."""
    found = re.findall(r"(\d+) (hours?|minutes?|seconds?)", eta)
    if not found:
        return None
    unit = {"h": 3600, "m": 60, "s": 1}
    return float(sum(int(n) * unit[u[0]] for n, u in found))


def shoot(page, name: str) -> Path:
    """The notebook as the person sees it (the widget's node is redrawn as it updates, so the page
    is shot, not the element)."""
    folder = Path(os.environ.get("PURELINK_ARTIFACTS") or ROOT / "artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def test_notebook_monitor_is_monotonic_and_its_eta_honest(lab, page, make_notebook, sandbox_factory):
    from purelink.recipes import RecipeStore, parse_recipe
    from purelink.workspace import Workspace

    url, root = lab
    slow = sandbox_factory(customers=CUSTOMERS, latency_ms=150)
    RecipeStore(Workspace.at(root).ensure()).save(parse_recipe(
        f"name: slow_customers\nsource: {{name: stripe, base_url: '{slow.stripe_base_url}'}}\n"
        # History from where the sandbox's data begins (as a user answers "load history from"): a
        # time window reaching far before the first record is sized as if it were full until it
        # ends, which no density can know in advance.
        "streams: [{name: customers, columns: [id, email, created]}]\n"
        "requirements: {rate_limit: 2, history_start: '2024-01-01'}\n"
        "executor: local\n"))
    make_notebook(root / "run.ipynb", [
        f"import os\nos.environ['STRIPE_API_KEY'] = {slow.api_key!r}\n%load_ext purelink",
        # A full refresh, first load or not: when the front end never draws the widget of a run
        # that ended, the harness reloads the page and runs the cell again (run_until), and a plain
        # run would then find nothing new (a quiet rehearsal's monitor read "0 records").
        "r = %purelink run slow_customers --full-refresh",
    ])
    open_and_run(page, url, "run.ipynb", cells=2, shown=".purelink-monitor")
    monitor = page.locator(".purelink-monitor")
    monitor.wait_for(timeout=KERNEL)

    samples: list[tuple[float, dict]] = []
    shots: dict[str, Path] = {}
    deadline = time.monotonic() + 300
    while True:
        # Sampling the screen as a person would; each read waits for the page to answer.
        seen = page.evaluate(READ)
        now = time.monotonic()
        if seen:
            samples.append((now, seen))
            pct = seen["bar"] or 0
            if "early" not in shots and 5 <= pct < 30:
                shots["early"] = shoot(page, "monitor-1-early")
            if "midway" not in shots and pct >= 50:
                shots["midway"] = shoot(page, "monitor-2-midway")
            if seen["status"] and not seen["status"].startswith(("running", "starting")):
                break
        assert now < deadline, samples[-3:]
        page.wait_for_timeout(250)  # the sampling interval, not a wait for an outcome
    end = samples[-1][0]
    page.wait_for_function("() => document.querySelector('.purelink-monitor .purelink-status')"
                           ".innerText === 'done'", timeout=KERNEL)
    shots["end"] = shoot(page, "monitor-3-done")
    final = page.evaluate(READ)

    folder = shots["end"].parent  # what the screen said, sample by sample, next to the screenshots
    (folder / "monitor-samples.json").write_text(json.dumps([{"t": round(t - samples[0][0], 2), **s}
                                                            for t, s in samples], indent=1))
    for log in (root / "logs").glob("execution_*.log"):
        (folder / "monitor-events.log").write_text(log.read_text())
    bars = [s["bar"] for _, s in samples if s["bar"] is not None]
    assert all(b >= a for a, b in itertools.pairwise(bars)), bars  # never backwards
    assert final["bar"] == 100 and final["progress"] == f"{CUSTOMERS:,}/{CUSTOMERS:,} (100%)"
    assert final["counts"] == "Errors: 0 | Warnings: 0 | Rejected: 0"
    assert re.match(r"[\d.]+ (KB|MB) -> .*\.duckdb", final["storage"]), final
    rates = {s["rate"] for _, s in samples}
    assert not any("above" in r for r in rates) and any("within limit of 2/s" in r for r in rates), rates
    assert sum("about" in s["progress"] for _, s in samples) > 3  # an estimated total says so

    judged = 0
    for t, s in samples:
        left = end - t
        eta = seconds(s["eta"])
        if (s["bar"] or 0) < 30 or eta is None or left < 5:
            continue  # before 30%, or the last seconds where any small ETA is honest
        assert abs(eta - left) <= 0.5 * left, (s, left)
        judged += 1
    assert judged >= 5, samples
    assert set(shots) == {"early", "midway", "end"}
