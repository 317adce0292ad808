"""No container outlives its run: a killed caller, an interrupted kernel, interpreter exit, sweep.

The caller is a real second Python process; every wait is for something it prints or for the
container's removal, under generous ceilings (a loaded 2-core machine is slow, not broken).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from purelink.execution.docker import sweep

ROOT = Path(__file__).resolve().parents[2]
CEILING_S = 120
docker_only = pytest.mark.docker

CALLER = """
import sys, time
from pathlib import Path
from purelink.execution.docker import DockerRunner
from purelink.execution.jobs import Job
runner = DockerRunner(image=sys.argv[1])
handle = runner.start(Job(module=Path(sys.argv[2]), workspace=Path(sys.argv[3]),
                          db_path=Path(sys.argv[3]) / "data" / "killed.duckdb", args=["--sleep", "600"],
                          secrets={"STRIPE_API_KEY": "sk_test_x"}))
print(handle.container.id, flush=True)


def seen(event):
    if event["event"] == "started":
        print("reading", flush=True)  # inside the run's loop, which an interrupt must leave cleanly


try:
    handle.collect(on_event=seen)  # how the engine (and so the kernel) consumes a run
except KeyboardInterrupt:
    if sys.argv[4] != "survive":
        raise
    print("interrupted", flush=True)
    time.sleep(600)
"""


class Lines:
    """A process's stdout, line by line, each awaited under a ceiling instead of blocking forever."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self._lines.put(line) for line in proc.stdout], daemon=True).start()

    def next(self, ceiling_s: float = CEILING_S) -> str:
        try:
            return self._lines.get(timeout=ceiling_s).strip()
        except queue.Empty:
            raise AssertionError(f"no line from the process within {ceiling_s} s") from None


def _start_caller(runner, pipeline, tmp_path, *, survive_interrupt: bool):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    caller = subprocess.Popen([sys.executable, "-c", CALLER, runner.image, str(pipeline), str(tmp_path),
                               "survive" if survive_interrupt else ""],
                              stdout=subprocess.PIPE, text=True, env=env)
    lines = Lines(caller)
    container_id = lines.next()
    assert lines.next() == "reading"
    assert runner.client.containers.get(container_id).status == "running"
    return caller, lines, container_id


def _until(condition, ceiling_s: float = CEILING_S) -> bool:
    deadline = time.monotonic() + ceiling_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


@docker_only
def test_killing_the_caller_leaves_no_container(runner, pipeline, tmp_path, gone):
    caller, _, container_id = _start_caller(runner, pipeline, tmp_path, survive_interrupt=False)
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    assert gone(container_id), "the container outlived its caller"


@docker_only
def test_interrupting_a_kernel_leaves_no_container(runner, pipeline, tmp_path, gone):
    """Jupyter's "interrupt" is a SIGINT to a kernel that lives on: no watchdog helps there."""
    caller, lines, container_id = _start_caller(runner, pipeline, tmp_path, survive_interrupt=True)
    try:
        caller.send_signal(signal.SIGINT)
        assert lines.next() == "interrupted"  # printed after the handle cleaned up
        assert gone(container_id)
        assert caller.poll() is None  # the "kernel" is still alive
    finally:
        caller.kill()
        caller.wait()


def test_importing_the_runner_registers_nothing_at_exit():
    # what it imports first (the docker SDK and others register their own exit hooks), then it
    code = ("import atexit, docker, docker.types, purelink.execution.images, purelink.execution.jobs; "
            "before = atexit._ncallbacks(); import purelink.execution.docker; "
            "print(atexit._ncallbacks() - before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=CEILING_S).stdout
    assert out.strip() == "0"


@docker_only
def test_sweep_removes_leftovers_by_label(runner, docker_engine, gone):
    import docker.errors

    run = uuid.uuid4().hex[:8]  # other sessions may share the engine: touch only our containers
    labels = {"purelink": "1", "purelink.host": socket.gethostname()}

    def create(pid: int, suffix: str, **extra):
        return docker_engine.containers.create(runner.image, ["true"], labels={
            **labels, "purelink.pid": str(pid), "purelink.run": f"{run}-{suffix}", **extra})

    orphan, mine = create(_dead_pid(), "orphan"), create(os.getpid(), "mine")
    other = docker_engine.containers.create(runner.image, ["true"], labels={"unrelated": run})
    try:
        removed = sweep(orphans_only=True, client=docker_engine)
        # Every DockerRunner.start sweeps orphans too: one in a parallel test worker may remove
        # ours between its creation and this sweep, or be removing it while ours asks (the engine
        # then answers 409, which sweep passes over), so `removed` may lack it; gone it must be.
        assert gone(orphan.id) and not gone(mine.id, within_s=0)
        assert mine.name not in removed
        assert sweep(run_id=f"{run}-mine", client=docker_engine) == [mine.name]
        assert gone(mine.id, within_s=0)
        assert not gone(other.id, within_s=0)  # no purelink label, never swept
    finally:
        for container in (other, mine, orphan):  # whatever an assertion above left behind
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


@docker_only
def test_sweeps_racing_for_the_same_containers_both_finish(runner, docker_engine, gone):
    """Every run starts with a sweep, so two can reach one orphan together: the one that comes
    second gets a 409 ("removal ... is already in progress") and must pass over it, not fail the run."""
    import docker.errors

    run = uuid.uuid4().hex[:8]
    labels = {"purelink": "1", "purelink.host": socket.gethostname(), "purelink.pid": str(_dead_pid()),
              "purelink.run": run}
    boxes = [docker_engine.containers.create(runner.image, ["true"], labels=labels) for _ in range(8)]
    results: list = []
    start = threading.Barrier(3)

    def race():
        start.wait()
        try:
            results.append(sweep(run_id=run, client=docker_engine))
        except Exception as error:  # noqa: BLE001 - the assertion below shows it
            results.append(error)

    threads = [threading.Thread(target=race) for _ in range(3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not [r for r in results if isinstance(r, Exception)], results
        names = [name for r in results for name in r]
        assert len(names) == len(set(names)) and set(names) <= {box.name for box in boxes}
        assert all(gone(box.id) for box in boxes)
    finally:
        for box in boxes:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                box.remove(force=True)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
