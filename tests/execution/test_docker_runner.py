"""DockerRunner with real containers: hardening, secrets, live events, control, cleanup, networking."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import docker.errors
import duckdb
import pytest

from purelink.errors import ExecutionError
from purelink.execution.docker import (
    LOOPBACK_HOST,
    DockerRunner,
    _container_env,
    _run_as,
    container_url,
    docker_available,
    host_gateway_address,
    sweep,
)
from purelink.execution.images import SANDBOX_UID, ensure_runtime_image
from purelink.execution.jobs import Job

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk_test_51SECRETvalueNEVERinINSPECT"
docker_only = pytest.mark.docker


# -- pure functions (no engine needed) ------------------------------------------------------------

@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:8111/v1", f"http://{LOOPBACK_HOST}:8111/v1"),
    ("http://localhost:8111", f"http://{LOOPBACK_HOST}:8111"),
    ("https://localhost/v1?limit=5", f"https://{LOOPBACK_HOST}/v1?limit=5"),
    ("http://127.8.9.10:80/x", f"http://{LOOPBACK_HOST}:80/x"),
    ("http://[::1]:9000/", f"http://{LOOPBACK_HOST}:9000/"),
    ("http://0.0.0.0:8111", f"http://{LOOPBACK_HOST}:8111"),
    ("postgresql://etl@localhost:5432/shop", f"postgresql://etl@{LOOPBACK_HOST}:5432/shop"),
    ("https://api.stripe.com/v1", "https://api.stripe.com/v1"),
    ("http://10.1.2.3:8080/v1", "http://10.1.2.3:8080/v1"),
    ("http://localhost.example.com/", "http://localhost.example.com/"),
    ("not a url", "not a url"),
])
def test_container_url(url, expected):
    assert container_url(url) == expected


def test_job_env_is_rewritten_and_refuses_secrets(tmp_path):
    job = Job(module=tmp_path / "m.py", workspace=tmp_path, db_path=tmp_path / "d.duckdb",
              env={"API_URL": "http://127.0.0.1:8111/v1", "MODE": "x"}, secrets={"KEY": SECRET})
    assert _container_env(job) == {"API_URL": f"http://{LOOPBACK_HOST}:8111/v1", "MODE": "x"}
    for env in ({"KEY": "anything"}, {"OTHER": SECRET}):
        job.env = env
        with pytest.raises(ExecutionError, match="secret"):
            _container_env(job)


@pytest.mark.skipif(os.geteuid() != 0, reason="changing ownership needs root")
def test_run_as_owner_of_the_data_folder(tmp_path):
    owned = tmp_path / "owned"
    owned.mkdir()
    os.chown(owned, 1234, 1234)
    assert _run_as(owned, "x.duckdb") == (1234, 1234)
    # a root-owned folder: the sandbox uid, and only the folder and database files are handed over
    rooted = tmp_path / "rooted"
    rooted.mkdir()
    (rooted / "x.duckdb").write_bytes(b"")
    (rooted / "other.duckdb").write_bytes(b"")
    assert _run_as(rooted, "x.duckdb") == (SANDBOX_UID, SANDBOX_UID)
    assert rooted.stat().st_uid == SANDBOX_UID and (rooted / "x.duckdb").stat().st_uid == SANDBOX_UID
    assert (rooted / "other.duckdb").stat().st_uid == 0


# -- images --------------------------------------------------------------------------------------

@docker_only
def test_runtime_image_is_reused_while_its_contents_hold(docker_engine, base_image, runtime_image):
    first = ensure_runtime_image(docker_engine, base=base_image)
    again = ensure_runtime_image(docker_engine, base=base_image)
    assert again.tag == first.tag and not again.built
    assert again.seconds < 2
    attrs = docker_engine.images.get(again.tag).attrs
    assert attrs["Config"]["User"] == f"{SANDBOX_UID}:{SANDBOX_UID}"


@docker_only
def test_missing_base_image_is_explained(docker_engine):
    with pytest.raises(ExecutionError) as caught:
        ensure_runtime_image(docker_engine, base="purelink-no-such-base:never")
    assert "cannot be pulled" in caught.value.message
    assert "PURELINK_BASE_IMAGE=purelink-base:bookworm" in caught.value.guidance


@docker_only
def test_base_image_without_python_is_explained(docker_engine, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "hello.txt").write_text("no python here\n")
    subprocess.run(f"tar -C {tmp_path / 'empty'} -c . | docker import - purelink-test-nopython:1",
                   shell=True, check=True, capture_output=True)
    try:
        with pytest.raises(ExecutionError, match="has no working python3"):
            ensure_runtime_image(docker_engine, base="purelink-test-nopython:1", cache=tmp_path / "cache")
    finally:
        docker_engine.images.remove("purelink-test-nopython:1", force=True)


@docker_only
def test_build_failure_is_explained(docker_engine, base_image, tmp_path):
    broken = docker_engine.containers.run(
        base_image, ["python3", "-c", "import os, shutil, venv; shutil.rmtree(os.path.dirname(venv.__file__))"],
        detach=True)
    broken.wait()
    broken.commit("purelink-test-novenv", "1")
    broken.remove()
    try:
        with pytest.raises(ExecutionError) as caught:
            ensure_runtime_image(docker_engine, base="purelink-test-novenv:1", cache=tmp_path / "cache")
        assert "Building the runtime image on purelink-test-novenv:1 failed" in caught.value.message
        assert "venv" in caught.value.guidance  # the failing step's own lines
    finally:
        docker_engine.images.remove("purelink-test-novenv:1", force=True)


@docker_only
def test_docker_available(docker_engine):
    assert docker_available(refresh=True) is True


# -- a run ---------------------------------------------------------------------------------------

def _gone(client, container_id: str, within_s: float = 0.0) -> bool:
    deadline = time.monotonic() + within_s
    while True:
        try:
            client.containers.get(container_id)
        except docker.errors.NotFound:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


@docker_only
def test_success_streams_events_writes_duckdb_and_removes_the_container(runner, make_job):
    job = make_job(secrets={"STRIPE_API_KEY": SECRET})
    handle = runner.start(job)
    assert handle.isolated
    result = handle.collect()
    assert result.ok, (result.exit_code, result.output)
    kinds = [e["event"] for e in result.events]
    assert kinds == ["started", "page", "finished"]
    started = result.events[0]
    assert started["run_id"] == handle.run_id
    assert (started["uid"], started["gid"]) == (SANDBOX_UID, SANDBOX_UID)
    assert started["secret_names"] == ["STRIPE_API_KEY"] and not started["secret_in_env"]
    assert result.finished["secret_len"] == len(SECRET)
    assert result.output == ["a plain line, not an event"]
    con = duckdb.connect(str(job.db_path), read_only=True)
    assert con.execute("SELECT answer FROM answers").fetchone() == (42,)
    con.close()
    assert _gone(runner.client, handle.container.id)
    assert not handle._secrets_path.exists()


@docker_only
def test_hardening_is_visible_in_docker_inspect(runner, make_job, pipeline):
    job = make_job("--sleep", "30", secrets={"STRIPE_API_KEY": SECRET})
    handle = runner.start(job)
    try:
        next(handle.events())  # running
        attrs = runner.client.api.inspect_container(handle.container.id)
        host = attrs["HostConfig"]
        assert attrs["Config"]["User"] == f"{SANDBOX_UID}:{SANDBOX_UID}"
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["PidsLimit"] == runner.limits.pids
        assert host["Memory"] == 2 * 1024**3 and host["MemorySwap"] == host["Memory"]
        assert 0 < host["NanoCpus"] <= 2 * 10**9
        assert host["Privileged"] is False
        assert "/tmp" in host["Tmpfs"]
        assert f"{LOOPBACK_HOST}:host-gateway" in host["ExtraHosts"]
        labels = attrs["Config"]["Labels"]
        assert labels["purelink"] == "1" and labels["purelink.run"] == handle.run_id
        mounts = {m["Destination"]: m for m in attrs["Mounts"]}
        assert set(mounts) == {"/pipeline/tiny_pipeline.py", "/data", "/run/purelink/secrets.json"}
        assert [d for d, m in mounts.items() if m["RW"]] == ["/data"]
        assert mounts["/data"]["Source"] == str(job.db_path.parent)
        assert mounts["/pipeline/tiny_pipeline.py"]["Source"] == str(pipeline)
        # the secret value is nowhere in the container's description: not env, command, labels, mounts
        cli = subprocess.run(["docker", "inspect", handle.container.id], capture_output=True, text=True,
                             check=True).stdout
        assert SECRET not in json.dumps(attrs) and SECRET not in cli
        assert "PURELINK_SECRETS_FILE=/run/purelink/secrets.json" in attrs["Config"]["Env"]
        image = json.dumps(runner.client.api.inspect_image(runner.image))
        assert SECRET not in image
    finally:
        handle.stop(grace_s=1)
        handle.wait()
    assert _gone(runner.client, handle.container.id)


@docker_only
def test_events_arrive_while_the_run_goes_on(runner, make_job):
    handle = runner.start(make_job("--sleep", "3"))
    started = time.monotonic()
    arrivals = [(event["event"], time.monotonic() - started) for event in handle.events()]
    assert handle.wait() == 0
    assert arrivals[0][0] == "started" and arrivals[0][1] < 2.5  # seen long before the end
    assert arrivals[-1][0] == "finished" and arrivals[-1][1] >= 3


@docker_only
def test_failure_keeps_exit_code_and_removes_the_container(runner, make_job):
    handle = runner.start(make_job("--exit", "3"))
    result = handle.collect()
    assert result.exit_code == 3 and not result.ok
    assert result.events[-1]["message"] == "failing on purpose"
    assert _gone(runner.client, handle.container.id)


@docker_only
def test_stop_is_sigterm_then_kill(runner, make_job):
    handle = runner.start(make_job("--sleep", "60"))
    events = handle.events()
    next(events)
    t = time.monotonic()
    handle.stop(grace_s=5)
    assert time.monotonic() - t < 4  # the module exits on SIGTERM, no need to wait the grace out
    list(events)
    assert handle.wait() == 143
    assert _gone(runner.client, handle.container.id)

    stubborn = runner.start(make_job("--sleep", "60", "--ignore-term"))
    next(stubborn.events())
    t = time.monotonic()
    stubborn.stop(grace_s=1)
    assert 0.9 < time.monotonic() - t < 6
    assert stubborn.wait() == 137
    assert _gone(runner.client, stubborn.container.id)


@docker_only
def test_pause_and_resume(runner, make_job):
    handle = runner.start(make_job("--beats", "15"))
    seen: list[tuple[str, float]] = []
    reader = threading.Thread(target=lambda: seen.extend((e["event"], time.monotonic()) for e in handle.events()))
    reader.start()
    while not any(kind == "heartbeat" for kind, _ in seen):
        time.sleep(0.05)
    handle.pause()
    assert runner.client.api.inspect_container(handle.container.id)["State"]["Paused"] is True
    time.sleep(0.3)  # let in-flight output drain
    count = len(seen)
    time.sleep(1.5)
    assert len(seen) == count, "no event may arrive while paused"
    handle.resume()
    reader.join(timeout=30)
    assert seen[-1][0] == "finished"
    assert handle.wait() == 0


@docker_only
def test_wall_clock_limit_stops_the_run(runner, make_job):
    t = time.monotonic()
    result = runner.start(make_job("--sleep", "60", timeout_s=2)).collect()
    assert 1.5 < time.monotonic() - t < 12
    assert result.exit_code != 0 and result.finished is None
    assert any("wall-clock limit" in line for line in result.output)


@docker_only
def test_interrupt_while_reading_events_removes_the_container(runner, make_job):
    handle = runner.start(make_job("--sleep", "60"))

    def interrupt(event):
        raise KeyboardInterrupt  # what Jupyter's "interrupt kernel" raises in the running cell

    with pytest.raises(KeyboardInterrupt):
        handle.collect(on_event=interrupt)
    assert _gone(runner.client, handle.container.id)


CALLER = """
import sys, time
from pathlib import Path
from purelink.execution.docker import DockerRunner
from purelink.execution.jobs import Job
runner = DockerRunner(image=sys.argv[1])
handle = runner.start(Job(module=Path(sys.argv[2]), workspace=Path(sys.argv[3]),
                          db_path=Path(sys.argv[3]) / "data" / "killed.duckdb", args=["--sleep", "120"],
                          secrets={"STRIPE_API_KEY": "sk_test_x"}))
print(handle.container.id, handle._secrets_path, flush=True)
try:
    for event in handle.events():
        pass
except KeyboardInterrupt:
    if sys.argv[4] != "survive":
        raise
    print("interrupted", flush=True)
    time.sleep(60)
"""


def _start_caller(runner, pipeline, tmp_path, *, survive_interrupt: bool) -> tuple[subprocess.Popen, str, Path]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    caller = subprocess.Popen([sys.executable, "-c", CALLER, runner.image, str(pipeline), str(tmp_path),
                               "survive" if survive_interrupt else ""],
                              stdout=subprocess.PIPE, text=True, env=env)
    container_id, secrets = caller.stdout.readline().split()
    assert runner.client.containers.get(container_id).status == "running"
    assert Path(secrets).exists()
    return caller, container_id, Path(secrets)


@docker_only
def test_killing_the_caller_leaves_no_container(runner, pipeline, tmp_path):
    caller, container_id, secrets = _start_caller(runner, pipeline, tmp_path, survive_interrupt=False)
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    assert _gone(runner.client, container_id, within_s=20), "the container outlived its caller"
    deadline = time.monotonic() + 5
    while secrets.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not secrets.parent.exists(), "the secrets file outlived its caller"


@docker_only
def test_interrupting_a_kernel_leaves_no_container(runner, pipeline, tmp_path):
    """Jupyter's "interrupt" is a SIGINT to a kernel that lives on: no watchdog helps there."""
    caller, container_id, secrets = _start_caller(runner, pipeline, tmp_path, survive_interrupt=True)
    try:
        time.sleep(0.5)
        caller.send_signal(signal.SIGINT)
        assert caller.stdout.readline().strip() == "interrupted"
        assert _gone(runner.client, container_id, within_s=10)
        assert not secrets.exists()
        assert caller.poll() is None  # the "kernel" is still alive
    finally:
        caller.kill()
        caller.wait()


@docker_only
def test_sweep_removes_leftovers_by_label(runner, docker_engine):
    run = uuid.uuid4().hex[:8]  # other sessions may share the engine: touch only our containers
    labels = {"purelink": "1", "purelink.host": socket.gethostname()}

    def create(pid: int, suffix: str, **extra):
        return docker_engine.containers.create(runner.image, ["true"], labels={
            **labels, "purelink.pid": str(pid), "purelink.run": f"{run}-{suffix}", **extra})

    orphan, mine = create(_dead_pid(), "orphan"), create(os.getpid(), "mine")
    other = docker_engine.containers.create(runner.image, ["true"], labels={"unrelated": run})
    try:
        assert orphan.name in sweep(orphans_only=True, client=docker_engine)
        assert _gone(docker_engine, orphan.id) and not _gone(docker_engine, mine.id)
        assert sweep(run_id=f"{run}-mine", client=docker_engine) == [mine.name]
        assert _gone(docker_engine, mine.id)
        assert not _gone(docker_engine, other.id)  # no purelink label, never swept
    finally:
        other.remove(force=True)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# -- networking ----------------------------------------------------------------------------------

class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"hello": "from the host", "host_header": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def host_api(docker_engine):
    """A sandbox-like API on the host, on 127.0.0.1 (for local runs) and, on the same port, on the
    bridge's gateway (for containers, which cannot reach the host's 127.0.0.1) rather than on every
    address of the machine: the pattern docs/docker.md recommends."""
    gateway = http.server.ThreadingHTTPServer((host_gateway_address(docker_engine), 0), _Hello)
    port = gateway.server_address[1]
    loopback = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Hello)
    for server in (gateway, loopback):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield port
    for server in (gateway, loopback):
        server.shutdown()
        server.server_close()


@docker_only
@pytest.mark.parametrize("how", ["job env", "runtime rewrite"])
def test_container_reaches_an_api_on_the_host_loopback(runner, make_job, host_api, how):
    url = f"http://127.0.0.1:{host_api}/v1/hello"
    assert json.loads(urllib.request.urlopen(url, timeout=5).read())["hello"] == "from the host"
    if how == "job env":  # a loopback URL handed over in Job.env is rewritten by the runner
        job = make_job("--fetch", "$API_URL", env={"API_URL": url})
    else:  # a URL baked into the module is rewritten by the runtime, from PURELINK_LOOPBACK_HOST
        job = make_job("--fetch", url)
    result = runner.start(job).collect()
    fetched = [e for e in result.events if e.get("url")]
    assert fetched and fetched[0]["event"] == "page", result.events
    assert fetched[0]["url"] == container_url(url)
    assert json.loads(fetched[0]["body"])["hello"] == "from the host"
    assert json.loads(fetched[0]["body"])["host_header"] == f"{LOOPBACK_HOST}:{host_api}"


@docker_only
def test_runner_refuses_without_an_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(ExecutionError) as caught:
        DockerRunner()
    assert "does not answer" in caught.value.message and "--executor local" in caught.value.guidance
    assert docker_available(refresh=True) is False
    monkeypatch.delenv("DOCKER_HOST")
    assert docker_available(refresh=True) is True

