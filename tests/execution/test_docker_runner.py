"""DockerRunner with real containers: hardening, secrets, live events, control and the image.

Waits are for events (an event read, a container state) under generous ceilings: these tests must
pass on a 2-core machine kept busy by other work.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import duckdb
import pytest

from purelink.errors import ExecutionError
from purelink.execution.docker import LOOPBACK_HOST, DockerRunner, docker_available
from purelink.execution.docker.handle import _container_env, _run_as
from purelink.execution.images import SANDBOX_UID, ensure_runtime_image
from purelink.execution.jobs import Job

SECRET = "sk_test_51SECRETvalueNEVERinINSPECT"
CEILING_S = 120  # how long an event may take on a loaded machine before the test gives up
docker_only = pytest.mark.docker


# -- pure functions (no engine needed) ------------------------------------------------------------

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
    assert again.seconds < 30  # a check of hashes, not a build (which takes minutes here)
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

@docker_only
def test_success_streams_events_writes_duckdb_and_removes_the_container(runner, make_job, gone):
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
    assert gone(handle.container.id)


@docker_only
def test_hardening_is_visible_in_docker_inspect(runner, make_job, pipeline, gone):
    job = make_job("--sleep", "600", secrets={"STRIPE_API_KEY": SECRET})
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
        assert set(mounts) == {"/pipeline/tiny_pipeline.py", "/data"}  # no secrets file: they came on stdin
        assert [d for d, m in mounts.items() if m["RW"]] == ["/data"]
        assert mounts["/data"]["Source"] == str(job.db_path.parent)
        assert mounts["/pipeline/tiny_pipeline.py"]["Source"] == str(pipeline)
        # the secret value is nowhere in the container's description: not env, command, labels, mounts
        cli = subprocess.run(["docker", "inspect", handle.container.id], capture_output=True, text=True,
                             check=True).stdout
        assert SECRET not in json.dumps(attrs) and SECRET not in cli
        assert "PURELINK_PARENT_PIPE=stdin" in attrs["Config"]["Env"] and attrs["Config"]["OpenStdin"]
        image = json.dumps(runner.client.api.inspect_image(runner.image))
        assert SECRET not in image
    finally:
        handle.stop(grace_s=1)
        handle.wait()
    assert gone(handle.container.id)


@docker_only
def test_events_arrive_while_the_run_goes_on(runner, make_job):
    handle = runner.start(make_job("--sleep", "600"))
    events = handle.events()
    assert next(events)["event"] == "started"
    handle.container.reload()
    assert handle.container.status == "running"  # the event came while the module still runs
    handle.stop(grace_s=30)
    assert "finished" not in [e["event"] for e in events]
    assert handle.wait() == 143


@docker_only
def test_failure_keeps_exit_code_and_removes_the_container(runner, make_job, gone):
    handle = runner.start(make_job("--exit", "3"))
    result = handle.collect()
    assert result.exit_code == 3 and not result.ok
    assert result.events[-1]["message"] == "failing on purpose"
    assert gone(handle.container.id)


@docker_only
def test_stop_is_sigterm_then_kill(runner, make_job, gone):
    handle = runner.start(make_job("--sleep", "600"))
    events = handle.events()
    next(events)
    t = time.monotonic()
    handle.stop(grace_s=300)
    assert time.monotonic() - t < CEILING_S  # the module exits on SIGTERM: the grace is not waited out
    list(events)
    assert handle.wait() == 143
    assert gone(handle.container.id)

    stubborn = runner.start(make_job("--sleep", "600", "--ignore-term"))
    try:
        # Stopped once it only sleeps: its database write is behind it, so nothing but the kill ends it.
        assert next(e for e in stubborn.events() if e["event"] == "page")
        t = time.monotonic()
        stubborn.stop(grace_s=1)
        took = time.monotonic() - t
        code = stubborn.wait()
    finally:  # a failure above must not leave a container sleeping for ten minutes
        stubborn.stop(grace_s=0)
        stubborn.wait()
    assert code == 137, f"exit {code} after {took:.2f} s: {stubborn.output}"  # SIGKILL: it ignored the SIGTERM
    assert 0.9 < took < CEILING_S
    assert gone(stubborn.container.id)


def _settled(seen: list, quiet_s: float = 1.0, ceiling_s: float = CEILING_S) -> int:
    """How many events were seen once none has arrived for `quiet_s` (output already in flight
    when the container froze drains first)."""
    deadline = time.monotonic() + ceiling_s
    count, since = len(seen), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if len(seen) != count:
            count, since = len(seen), time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return count
    raise AssertionError("events kept arriving while the run was paused")


@docker_only
def test_pause_and_resume(runner, make_job):
    handle = runner.start(make_job("--beats", "50"))  # 10 s of heartbeats: still running when paused
    seen: list[tuple[str, float]] = []
    reader = threading.Thread(target=lambda: seen.extend((e["event"], time.monotonic()) for e in handle.events()))
    reader.start()
    deadline = time.monotonic() + CEILING_S
    while not any(kind == "heartbeat" for kind, _ in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    handle.pause()
    assert runner.client.api.inspect_container(handle.container.id)["State"]["Paused"] is True
    count = _settled(seen)
    time.sleep(1.5)  # a frozen container prints nothing, however long we look
    assert len(seen) == count, "no event may arrive while paused"
    handle.resume()
    reader.join(timeout=CEILING_S)
    assert seen[-1][0] == "finished"
    assert sum(kind == "heartbeat" for kind, _ in seen) == 50
    assert handle.wait() == 0


@docker_only
def test_wall_clock_limit_stops_the_run(runner, make_job):
    t = time.monotonic()
    result = runner.start(make_job("--sleep", "600", timeout_s=2)).collect()
    assert 1.5 < time.monotonic() - t < CEILING_S  # far less than the module's 600 s
    assert result.exit_code != 0 and result.finished is None
    assert any("wall-clock limit" in line for line in result.output)


@docker_only
def test_interrupt_while_reading_events_removes_the_container(runner, make_job, gone):
    handle = runner.start(make_job("--sleep", "600"))

    def interrupt(event):
        raise KeyboardInterrupt  # what Jupyter's "interrupt kernel" raises in the running cell

    with pytest.raises(KeyboardInterrupt):
        handle.collect(on_event=interrupt)
    assert gone(handle.container.id)


@docker_only
def test_runner_refuses_without_an_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(ExecutionError) as caught:
        DockerRunner()
    assert "does not answer" in caught.value.message and "--executor local" in caught.value.guidance
    assert docker_available(refresh=True) is False
    monkeypatch.delenv("DOCKER_HOST")
    assert docker_available(refresh=True) is True
