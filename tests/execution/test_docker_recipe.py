"""Done-criteria of container execution, the way a user meets them: `purelink recipes run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from purelink.sandbox import serve


@pytest.fixture
def api():
    # Containers reach the host through Docker's bridge, so this sandbox listens beyond loopback.
    with serve(host="0.0.0.0", latency_ms=40, customers=3421) as s:
        yield s


def purelink(*args, cwd, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, check=False, stdin=subprocess.DEVNULL)


def test_recipe_runs_in_a_hardened_container(tmp_path, api, containers_of, base_image, runtime_image):
    env = {"STRIPE_API_KEY": api.api_key, "PURELINK_BASE_IMAGE": base_image}
    made = purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers",
                    "--base-url", api.stripe_base_url, "--history-start", "2020-01-01", "--executor", "docker",
                    cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    seen: dict = {}

    def watch():  # inspect the container while the run goes
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not seen:
            for c in containers_of(tmp_path):
                seen.update(c.attrs)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    proc = purelink("recipes", "run", "stripe_customers", "--executor", "docker", "--format", "json",
                    cwd=tmp_path, env=env)
    watcher.join()
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    finished = json.loads(proc.stdout.strip().splitlines()[-1])
    assert finished["status"] == "success" and finished["records"] == 3421
    assert finished["destination"] == str(tmp_path / "data" / "purelink.duckdb")  # the user's path

    assert seen, "no container was seen while the recipe ran"
    host = seen["HostConfig"]
    assert seen["Config"]["User"] not in ("", "0", "root", "0:0")
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] or "ALL" in host["CapDrop"]
    assert any("no-new-privileges" in opt for opt in host["SecurityOpt"])
    assert host["PidsLimit"] and host["Memory"] and host["NanoCpus"]
    assert seen["Config"]["Labels"]["purelink"] == "1"
    mounts = {m["Destination"]: m for m in seen["Mounts"]}
    writable = [d for d, m in mounts.items() if m["RW"]]
    assert writable == ["/data"], mounts
    dump = json.dumps(seen)
    assert api.api_key not in dump  # not in env, labels, command or mounts
    assert not containers_of(tmp_path, all=True)

    inspected = purelink("inspect", "--query", "SELECT count(DISTINCT id) FROM stripe.customers", "--format", "json",
                         cwd=tmp_path)
    assert json.loads(inspected.stdout)[0]["count(DISTINCT id)"] == 3421


def test_bad_key_fails_the_container_test_run_at_the_credentials_line(tmp_path, api, base_image, runtime_image):
    env = {"STRIPE_API_KEY": "sk_test_thisKeyDoesNotExist0000", "PURELINK_BASE_IMAGE": base_image}
    purelink("recipes", "new", "c", "--source", "stripe", "--streams", "customers", "--base-url",
             api.stripe_base_url, cwd=tmp_path)
    proc = purelink("recipes", "run", "c", "--sample", "5", "--executor", "docker", cwd=tmp_path, env=env)
    assert proc.returncode == 1
    assert "[FAIL] credentials: the API answered 401: the key was rejected" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert "sk_test_thisKeyDoesNotExist0000" not in proc.stdout + proc.stderr


def test_without_a_setting_the_offline_base_stands_in_for_an_absent_default(monkeypatch, docker_engine, base_image):
    import docker.errors

    from purelink.execution.images import DEFAULT_BASE_IMAGE, OFFLINE_BASE_IMAGE, ensure_runtime_image

    try:
        docker_engine.images.get(DEFAULT_BASE_IMAGE)
        pytest.skip(f"{DEFAULT_BASE_IMAGE} is present here: nothing to stand in for")
    except docker.errors.ImageNotFound:
        pass
    if base_image != OFFLINE_BASE_IMAGE:
        pytest.skip("the offline base image was not built on this engine")
    monkeypatch.delenv("PURELINK_BASE_IMAGE", raising=False)
    said: list[str] = []
    image = ensure_runtime_image(docker_engine, on_progress=said.append)
    assert image.base == OFFLINE_BASE_IMAGE
    # told when it is built on the stand-in, not surprised; a cache hit (every later run) is silent
    assert any("is not present" in line for line in said) == image.built
    again: list[str] = []
    assert ensure_runtime_image(docker_engine, on_progress=again.append).tag == image.tag and again == []


def test_the_memory_cap_set_on_the_host_reaches_the_container(tmp_path, api, base_image, runtime_image):
    """PURELINK_DUCKDB_MEMORY_LIMIT configures the runtime; a container gets none of the host's
    variables, so it is handed over by name: a bad value fails the run in the container with what
    to do, losing nothing already loaded, and a good one loads as usual."""
    env = {"STRIPE_API_KEY": api.api_key, "PURELINK_BASE_IMAGE": base_image}
    made = purelink("recipes", "new", "capped", "--source", "stripe", "--streams", "customers", "--base-url",
                    api.stripe_base_url, "--history-start", "2020-01-01", "--executor", "docker", cwd=tmp_path)
    assert made.returncode == 0, made.stderr

    def rows() -> tuple:
        out = purelink("inspect", "--query", "SELECT count(*), count(DISTINCT id) FROM stripe.customers",
                       "--format", "json", cwd=tmp_path)
        return tuple(json.loads(out.stdout)[0].values())

    first = purelink("recipes", "run", "capped", "--executor", "docker", cwd=tmp_path,
                     env={**env, "PURELINK_DUCKDB_MEMORY_LIMIT": "96MB"})
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert rows() == (3421, 3421)
    bad = purelink("recipes", "run", "capped", "--executor", "docker", "--full-refresh", cwd=tmp_path,
                   env={**env, "PURELINK_DUCKDB_MEMORY_LIMIT": "lots"})
    assert bad.returncode != 0
    said = bad.stdout + bad.stderr
    assert "not 'lots'" in said and "PURELINK_DUCKDB_MEMORY_LIMIT" in said, said[-2000:]
    assert rows() == (3421, 3421)  # the refused run took nothing away
    runs = json.loads(purelink("inspect", "--query", "SELECT status, mode, records, error_message FROM executions "
                               "ORDER BY started_at", "--format", "json", cwd=tmp_path).stdout)
    assert [(r["status"], r["mode"], r["records"]) for r in runs] == [("success", "incremental", 3421),
                                                                     ("failed", "full_refresh", 0)]
    assert "not 'lots'" in runs[1]["error_message"]  # the failed start is in the history with its cause
