"""A Docker run as a user starts it (`purelink recipes run --executor docker`): its key reaches the
container on stdin, so `docker inspect` and the disk never hold it, and a kill -9 of the command
stops the container (the runtime reads EOF on that stdin; the watchdog removes what is left)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from purelink.runtime.events import parse_event
from purelink.sandbox import serve

CLI = [sys.executable, "-m", "purelink.cli"]
CEILING_S = 120


SINCE = time.time() - 60  # the tests that look for a key write it after this module is loaded


def files_holding(secret: str, *folders: Path) -> list[str]:
    """Every regular file under the folders, changed since this module was loaded, that holds the
    secret (binary files too). Only those: a key a test made can be in no other, and reading all of
    /tmp (14 GB on a busy machine) outlasted the test's timeout."""
    needle, found = secret.encode(), []
    for folder in folders:
        for root, _, names in os.walk(folder):
            for path in (os.path.join(root, name) for name in names):
                try:
                    if os.path.isfile(path) and not os.path.islink(path) and os.path.getmtime(path) >= SINCE:
                        with open(path, "rb") as f:
                            if needle in f.read():
                                found.append(path)
                except OSError:  # gone meanwhile, or not ours to read
                    continue
    return found


def wait_for(condition, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + CEILING_S
    while True:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the command ended before {what}: {proc.communicate()}")
        if time.monotonic() >= deadline:
            pytest.fail(f"no {what} within {CEILING_S} s")
        time.sleep(0.1)


def committed_pages(ws: Path) -> bool:
    """A page with records is committed (an empty time window's page event creates no table)."""
    for path in (ws / "logs").glob("execution_*.log"):
        for line in path.read_text().splitlines():
            event = parse_event(line)
            if event is not None and event["event"] == "page" and event.get("records"):
                return True
    return False


@pytest.mark.docker
def test_the_key_travels_on_stdin_and_kill_9_stops_the_container(tmp_path, docker_engine, base_image, runtime_image):
    key = f"sk_test_{uuid.uuid4().hex}"  # a value no other file on this machine can hold
    ws, tmp = tmp_path / "ws", tmp_path / "tmp"
    ws.mkdir()
    tmp.mkdir()
    # Slow enough (200 pages at 1 request/s: over three minutes) that the checks below, which grep
    # all of /tmp (the parallel suite's files too), end long before the run would: at 3 requests/s a
    # loaded rehearsal's run finished first, and the kill then stopped nothing.
    with serve(host="0.0.0.0", latency_ms=200, rate_limit=1, customers=20000, api_keys=[key]) as api:
        env = {**os.environ, "STRIPE_API_KEY": key, "PURELINK_BASE_IMAGE": base_image, "TMPDIR": str(tmp)}
        subprocess.run([*CLI, "recipes", "new", "custs", "--source", "stripe", "--streams", "customers", "--base-url",
                        api.stripe_base_url, "--executor", "docker"], cwd=ws, env=env, check=True,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
        proc = subprocess.Popen([*CLI, "recipes", "run", "custs", "--executor", "docker"], cwd=ws, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            mine = {"label": ["purelink=1", f"purelink.pid={proc.pid}"]}
            box = wait_for(lambda: docker_engine.containers.list(filters=mine, ignore_removed=True), "container", proc)[0]
            wait_for(lambda: committed_pages(ws), "committed page", proc)

            inspected = subprocess.run(["docker", "inspect", box.id], capture_output=True, text=True, check=True).stdout
            assert key not in inspected
            config = json.loads(inspected)[0]
            assert config["Config"]["OpenStdin"] and config["Config"]["StdinOnce"]
            assert not [m for m in config["Mounts"] if "secret" in m["Destination"]]
            assert files_holding(key, Path("/tmp"), ws) == []  # not even while the run goes on

            assert proc.poll() is None, "the run ended before the kill: the test checked nothing"
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=60)

            def stopped() -> bool:
                # ignore_removed: the watchdog may remove it between the listing and its inspection
                found = docker_engine.containers.list(all=True, filters={"id": box.id}, ignore_removed=True)
                return not found or found[0].status in ("exited", "dead")

            wait_for(stopped, "stop of the container after its command died")
            wait_for(lambda: not docker_engine.containers.list(all=True, filters={"id": box.id}, ignore_removed=True),
                     "removal of the container by the watchdog")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert files_holding(key, Path("/tmp"), ws) == []

        # The container stopped gracefully: its row says what it committed, and those rows are exact.
        con = duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True)
        try:
            status, records = con.execute("SELECT status, records FROM _purelink.executions").fetchone()
            landed, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone()
        finally:
            con.close()
        assert status == "stopped", status
        assert 0 < landed == distinct == records < 20000
