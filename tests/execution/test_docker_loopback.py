"""The newcomer's path: services that listen on this machine's loopback only, run through a container.

`purelink sandbox` (127.0.0.1 only) and a PostgreSQL server on 127.0.0.1 only load every record
through `purelink recipes run --executor docker`; a URL that nothing answers fails at once with the fix.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from purelink.execution.docker import host_gateway_address

CEILING_S = 120
CUSTOMERS = 700


def purelink(*args, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600, check=False, stdin=subprocess.DEVNULL)


@pytest.fixture
def loopback_sandbox():
    """`purelink sandbox` as a user starts it: on 127.0.0.1 only. Yields (base URL, api key)."""
    proc = subprocess.Popen([sys.executable, "-m", "purelink.sandbox", "--port", "0", "--customers", str(CUSTOMERS)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    text = ""
    try:
        while "Press Ctrl-C" not in text:
            text += lines.get(timeout=CEILING_S)  # the banner is the event; the ceiling is for a hung start
        base = re.search(r"stripe: base URL (http://\S+/v1)", text).group(1)
        key = re.search(r"api key: (sk_test_\S+)", text).group(1)
        assert base.startswith("http://127.0.0.1:")
        yield base, key
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=CEILING_S)


def truth_ids(base: str, key: str) -> set[str]:
    """Every customer id, paged from the sandbox on this machine: the source of truth."""
    ids: set[str] = set()
    params = {"limit": 100}
    while True:
        page = httpx.get(f"{base}/customers", params=params, auth=(key, ""), timeout=30).json()
        ids.update(c["id"] for c in page["data"])
        if not page["has_more"]:
            return ids
        params["starting_after"] = page["data"][-1]["id"]


def query(ws, sql: str) -> list[dict]:
    out = purelink("inspect", "--query", sql, "--format", "json", cwd=ws)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_loopback_sandbox_loads_every_record_through_a_container(tmp_path, loopback_sandbox, docker_engine,
                                                                   base_image, runtime_image):
    base, key = loopback_sandbox
    port = base.split(":")[2].split("/")[0]
    env = {"STRIPE_API_KEY": key, "PURELINK_BASE_IMAGE": base_image}
    made = purelink("recipes", "new", "shop", "--source", "stripe", "--streams", "customers", "--base-url", base,
                    "--history-start", "2020-01-01", "--executor", "docker", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    sample = purelink("recipes", "run", "shop", "--sample", "5", "--executor", "docker", cwd=tmp_path, env=env)
    assert sample.returncode == 0, sample.stdout[-2000:] + sample.stderr[-2000:]
    assert f"[PASS] local services: 127.0.0.1:{port} forwarded to this run's container only" in sample.stdout
    assert "[PASS] connectivity" in sample.stdout

    full = purelink("recipes", "run", "shop", "--executor", "docker", "--format", "json", cwd=tmp_path, env=env)
    assert full.returncode == 0, full.stdout[-2000:] + full.stderr[-2000:]
    assert json.loads(full.stdout.strip().splitlines()[-1])["records"] == CUSTOMERS
    truth = truth_ids(base, key)
    assert len(truth) == CUSTOMERS
    counted = query(tmp_path, "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM stripe.customers")[0]
    assert counted == {"n": CUSTOMERS, "ids": CUSTOMERS}
    loaded = {row["id"] for row in query(tmp_path, "SELECT id FROM stripe.customers")}
    assert loaded == truth
    with socket.socket() as probe:  # the relay is gone with the run
        assert probe.connect_ex((host_gateway_address(docker_engine), int(port))) != 0


def test_a_loopback_postgres_loads_through_a_container(tmp_path, postgres, docker_engine, base_image, runtime_image):
    database = postgres.create_database("plant")
    postgres.execute(database, "CREATE TABLE items (id int PRIMARY KEY, name text, weight numeric(8,2))",
                     "INSERT INTO items SELECT g, 'item ' || g, g * 1.25 FROM generate_series(1, 500) g")
    truth = postgres.query(database, "SELECT count(*), count(DISTINCT id), sum(id) FROM items")[0]
    assert postgres.host == "127.0.0.1"  # scripts/postgres-up.sh listens on loopback only by default
    env = {"PGPASSWORD": postgres.password, "PURELINK_BASE_IMAGE": base_image}
    made = purelink("recipes", "new", "plant", "--source", "postgres", "--streams", "public.items",
                    "--base-url", postgres.url(database), "--executor", "docker", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    run = purelink("recipes", "run", "plant", "--executor", "docker", "--format", "json", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1])["status"] == "success"
    assert postgres.password not in run.stdout + run.stderr
    tables = json.loads(purelink("inspect", "--tables", "--format", "json", cwd=tmp_path).stdout)
    table = next(t for t in tables if t["table"] == "items")
    got = query(tmp_path, f'SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(id) AS total '
                          f'FROM "{table["schema"]}".items')[0]
    assert (got["n"], got["ids"], got["total"]) == tuple(int(v) for v in truth)


def test_an_unreachable_url_fails_at_once_with_the_fix(tmp_path, docker_engine, base_image, runtime_image):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    purelink("recipes", "new", "gone", "--source", "stripe", "--streams", "customers", "--base-url",
             f"http://127.0.0.1:{port}/v1", "--executor", "docker", cwd=tmp_path)
    t = time.monotonic()
    run = purelink("recipes", "run", "gone", "--executor", "docker", cwd=tmp_path,
                   env={"STRIPE_API_KEY": "sk_test_anything", "PURELINK_BASE_IMAGE": base_image})
    took = time.monotonic() - t
    assert run.returncode == 1
    said = run.stdout + run.stderr
    assert f"Nothing listens on 127.0.0.1:{port}" in said and f"purelink sandbox --port {port}" in said
    assert "Traceback" not in said
    assert took < CEILING_S  # the 5 s bound itself is measured around the check in test_docker_network.py


def test_a_failure_inside_the_container_names_the_address_the_recipe_gave(tmp_path, loopback_sandbox, docker_engine,
                                                                           base_image, runtime_image):
    """The container reaches 127.0.0.1 as host.docker.internal; the user wrote 127.0.0.1, and every
    place that reports the failure (terminal, event log, executions row) names that."""
    base, _ = loopback_sandbox
    made = purelink("recipes", "new", "shop", "--source", "stripe", "--streams", "customers", "--base-url", base,
                    "--executor", "docker", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    run = purelink("recipes", "run", "shop", "--executor", "docker", cwd=tmp_path,
                   env={"STRIPE_API_KEY": "sk_test_not_the_key", "PURELINK_BASE_IMAGE": base_image})
    said = run.stdout + run.stderr
    assert run.returncode == 1, said
    assert "The API rejected the key" in said and f"{base}/customers" in said, said
    logged = "".join(p.read_text() for p in (tmp_path / "logs").rglob("*") if p.is_file())
    row = query(tmp_path, "SELECT status, error_message, CAST(cause AS VARCHAR) AS cause FROM executions")
    assert [r["status"] for r in row] == ["failed"] and "The API rejected the key" in row[0]["error_message"]
    assert json.loads(row[0]["cause"])["url"] == f"{base}/customers"
    for text in (said, logged, row[0]["cause"]):
        assert "host.docker.internal" not in text
