"""A real Docker engine and runtime image for the execution tests, and a tiny pipeline module.

The engine is started with scripts/docker-up.sh when it does not answer. Without CI the tests
skip when that is impossible (no root, no apt); with CI=true they fail instead, because CI must
run real containers. Every container the tests start must be gone at the end of the session.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OFFLINE_BASE = "purelink-base:bookworm"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Stands in for a generated module until codegen exists: prints events in the runtime's format
# (one JSON object per line) and writes a DuckDB file through the only writable mount.
PIPELINE = '''\
import argparse, json, os, signal, sys, time
import duckdb

parser = argparse.ArgumentParser()
parser.add_argument("--db", required=True)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--beats", type=int, default=0)
parser.add_argument("--exit", type=int, default=0)
parser.add_argument("--ignore-term", action="store_true")
parser.add_argument("--fetch", help="GET this URL, or the one in $VAR; loopback rewritten as the runtime does")
args = parser.parse_args()
if args.ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

def emit(kind, **fields):
    event = {"event": kind, "ts": time.strftime("%Y-%m-%dT%H:%M:%S"), "run_id": os.environ.get("PURELINK_RUN_ID", "?")}
    print(json.dumps({**event, **fields}), flush=True)

def loopback_rewrite(url):
    # what the runtime does with its base URL (see docs/docker.md)
    host = os.environ.get("PURELINK_LOOPBACK_HOST")
    for name in ("127.0.0.1", "localhost"):
        if host and "://" + name in url:
            return url.replace("://" + name, "://" + host, 1)
    return url

secrets = {}
if os.environ.get("PURELINK_PARENT_PIPE") == "stdin":  # the runner's first line, as the runtime reads it
    secrets = json.loads(sys.stdin.readline() or "{}")
emit("started", uid=os.getuid(), gid=os.getgid(), secret_names=sorted(secrets),
     secret_in_env=any(v and v in "\\n".join(os.environ.values()) for v in secrets.values()))
print("a plain line, not an event")
con = duckdb.connect(args.db)
con.execute("CREATE OR REPLACE TABLE answers AS SELECT 42 AS answer")
con.close()
emit("page", rows=1)
if args.fetch:
    import httpx
    url = os.environ[args.fetch[1:]] if args.fetch.startswith("$") else loopback_rewrite(args.fetch)
    try:
        response = httpx.get(url, timeout=60)  # a ceiling: a loaded machine answers late, not never
        emit("page", url=url, status=response.status_code, body=response.text)
    except httpx.HTTPError as exc:
        emit("error", url=url, message=repr(exc))
for beat in range(args.beats):
    emit("heartbeat", beat=beat)
    time.sleep(0.2)
time.sleep(args.sleep)
if args.exit:
    emit("error", message="failing on purpose")
    sys.exit(args.exit)
emit("finished", status="success", secret_len=len(secrets.get("STRIPE_API_KEY", "")))
'''


def _script(name: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "scripts" / name)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=900, check=False)


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"CI must run real containers, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_engine():
    """A docker client for a running engine, started here when needed."""
    from purelink.execution.docker import docker_available
    from purelink.execution.images import docker_client

    if not docker_available(refresh=True):
        if os.geteuid() != 0:
            _unavailable("no Docker engine answers and starting one needs root")
        proc = _script("docker-up.sh")
        if proc.returncode != 0 or not docker_available(refresh=True):
            _unavailable(f"the Docker engine could not be started: {proc.stderr.strip()[-500:]}")
    return docker_client()


@pytest.fixture(scope="session")
def base_image(docker_engine) -> str:
    """PURELINK_BASE_IMAGE when set; else python:3.11-slim when present; else the offline image."""
    import docker.errors

    if os.environ.get("PURELINK_BASE_IMAGE"):
        return os.environ["PURELINK_BASE_IMAGE"]
    try:
        docker_engine.images.get("python:3.11-slim")
        return "python:3.11-slim"
    except docker.errors.ImageNotFound:
        pass
    proc = _script("build-base-image.sh")
    if proc.returncode != 0:
        _unavailable(f"the offline base image could not be built: {proc.stderr.strip()[-500:]}")
    return OFFLINE_BASE


@pytest.fixture(scope="session")
def runtime_image(docker_engine, base_image) -> str:
    from purelink.execution.images import ensure_runtime_image

    return ensure_runtime_image(docker_engine, base=base_image).tag


@pytest.fixture(scope="session")
def runner(docker_engine, runtime_image):
    from purelink.execution.docker import DockerRunner

    return DockerRunner(image=runtime_image, client=docker_engine, stop_grace_s=5)


@pytest.fixture
def pipeline(tmp_path) -> Path:
    path = tmp_path / "pipelines" / "tiny_pipeline.py"
    path.parent.mkdir()
    path.write_text(PIPELINE)
    return path


@pytest.fixture
def make_job(tmp_path, pipeline):
    from purelink.execution.jobs import Job

    def make(*args: str, **options) -> Job:
        return Job(module=pipeline, workspace=tmp_path, db_path=tmp_path / "data" / "scratch.duckdb",
                   args=list(args), **options)

    return make


@pytest.fixture
def gone(docker_engine):
    """`gone(container_id, within_s=120)`: whether the container is removed, waiting up to the
    ceiling for it (removal is an event; a busy engine may take a while to get there)."""
    import docker.errors

    def check(container_id: str, within_s: float = 120.0) -> bool:
        deadline = time.monotonic() + within_s
        while True:
            try:
                docker_engine.containers.get(container_id)
            except docker.errors.NotFound:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    return check


@pytest.fixture
def containers_of(docker_engine):
    """`containers_of(folder, all=False)`: the purelink containers whose mounts come from `folder`
    (a test's workspace). Other tests, in this worker or in parallel ones, run containers on the
    same engine at the same time: a test looks at its own, found by what it mounts."""

    def mine(folder: Path, all: bool = False) -> list:
        root = str(Path(folder).resolve())
        return [c for c in docker_engine.containers.list(all=all, filters={"label": "purelink=1"},
                                                           ignore_removed=True)
                if any(str(m.get("Source", "")).startswith(root) for m in c.attrs.get("Mounts", []))]

    return mine


@pytest.fixture(scope="session", autouse=True)
def no_container_left_behind():
    """Zero containers left by this session: the issue's target, checked, then cleaned. Other
    sessions (and, under pytest-xdist, the other workers of this one) share the engine, so only
    the containers this process started count here; containers of dead processes (a killed
    `purelink` command) are counted once for the whole run, by the process that started the
    workers, when none of them runs any more (tests/conftest.py, pytest_sessionfinish)."""
    yield
    from purelink.execution.docker import docker_available
    from purelink.execution.docker.watchdog import orphan
    from purelink.execution.images import docker_client

    if not docker_available(refresh=True):
        return
    client = docker_client()
    parallel = bool(os.environ.get("PYTEST_XDIST_WORKER"))
    left = [c for c in client.containers.list(all=True, filters={"label": "purelink=1"}, ignore_removed=True)
            if c.labels.get("purelink.pid") == str(os.getpid()) or (not parallel and orphan(c.labels))]
    for container in left:
        container.remove(force=True)
    assert not left, f"containers left behind by the tests: {[c.name for c in left]}"
