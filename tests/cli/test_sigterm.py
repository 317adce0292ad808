"""`kill` (SIGTERM) of `purelink recipes run`, as a process manager or a colleague sends it: the run
stops as with Ctrl-C, says what it kept and how to resume, and the resumed run loads the rest once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.conftest import duckdb_rows


def test_sigterm_stops_the_run_with_its_summary_and_the_next_run_finishes_it(sandbox_factory, tmp_path):
    api = sandbox_factory(customers=3000, latency_ms=100, rate_limit=5)  # 6 s of pages: the signal lands mid-run
    env = {**os.environ, "STRIPE_API_KEY": api.api_key, "PURELINK_HOME": str(tmp_path / "home")}
    cli = [sys.executable, "-m", "purelink.cli", "recipes"]
    subprocess.run([*cli, "new", "t", "--source", "stripe", "--streams", "customers", "--base-url",
                    api.stripe_base_url, "--executor", "local", "--rate-limit", "5"], cwd=tmp_path, env=env,
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    proc = subprocess.Popen([*cli, "run", "t"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    assert proc.stderr is not None
    for line in proc.stderr:  # the piped status line, once a page is in
        if "RUNNING" in line and " 0 records" not in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, out + err
    assert "status:      stopped" in out and "resume:      purelink recipes run t" in out, out
    assert "Traceback" not in err
    db = tmp_path / "data" / "purelink.duckdb"
    kept = duckdb_rows(db, "SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0]
    assert f"committed:   {kept[0]:,} records before it stopped" in out and 0 < kept[0] == kept[1] < 3000
    assert duckdb_rows(db, "SELECT status FROM _purelink.executions") == [("stopped",)]
    again = subprocess.run([*cli, "run", "t"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=600, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert duckdb_rows(db, "SELECT count(*), count(DISTINCT id) FROM stripe.customers")[0] == (3000, 3000)
