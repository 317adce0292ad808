"""Containers never outlive their run: a watchdog process per run, a clean-up at interpreter exit
for the runs still live, and `sweep()` for whatever a dead caller left (label `purelink=1`)."""

from __future__ import annotations

import atexit
import math
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import docker.errors

from purelink.execution.images import docker_client

LABEL = "purelink"

# The watchdog is a separate process in its own session, so it survives a SIGKILL of the caller.
# It blocks on a pipe whose only writer is the caller: EOF means the run ended or the caller died,
# and either way the container and the secrets file must go (unless the runner says it cleaned up,
# which spares the import of the docker SDK). It is a string run with `python -c` because it must start
# fast and must not depend on how purelink is installed; it imports only the docker SDK.
_WATCHDOG = """
import os, shutil, sys
if sys.stdin.buffer.read() == b"removed":  # the runner cleaned up itself
    sys.exit()
import docker, docker.errors
try:
    box = docker.from_env(timeout=60).containers.get(sys.argv[1])
    if box.status == "paused":
        box.unpause()
    box.stop(timeout=int(sys.argv[2]))
    box.remove(force=True)
except docker.errors.NotFound:
    pass
finally:
    if sys.argv[3]:  # the secrets file and its private folder
        shutil.rmtree(os.path.dirname(sys.argv[3]), ignore_errors=True)
"""


def spawn_watchdog(container_id: str, grace_s: float, secrets: Path | None) -> int:
    """Start the watchdog; returns the pipe end whose closing (or our death) releases it."""
    read_end, write_end = os.pipe()
    try:
        subprocess.Popen([sys.executable, "-c", _WATCHDOG, container_id, str(math.ceil(grace_s)),
                          str(secrets or "")],
                         stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    finally:
        os.close(read_end)
    return write_end


# Runs still under way in this process, by container id, with their clean-up. The exit hook is
# registered with the first run, not at import: importing the runner changes nothing process-wide.
_live: dict[str, Callable[[], None]] = {}
_live_lock = threading.Lock()
_exit_hook = False


def track(container_id: str, cleanup: Callable[[], None]) -> None:
    """Remember a live run so that interpreter exit removes its container."""
    global _exit_hook
    with _live_lock:
        if not _exit_hook:
            atexit.register(_clean_up_live)
            _exit_hook = True
        _live[container_id] = cleanup


def untrack(container_id: str) -> None:
    with _live_lock:
        _live.pop(container_id, None)


def _clean_up_live() -> None:
    with _live_lock:
        cleanups = list(_live.values())
    for cleanup in cleanups:
        cleanup()


def sweep(*, orphans_only: bool = False, run_id: str | None = None, client=None) -> list[str]:
    """Remove purelink containers (label `purelink=1`) and return their names: all of them, only
    those of one run (`run_id`), or only those whose starting process on this host is gone
    (`orphans_only`), which leaves the runs of other live notebooks and test sessions alone."""
    client = client or docker_client()
    wanted = [f"{LABEL}=1"] + ([f"purelink.run={run_id}"] if run_id else [])
    removed = []
    # ignore_removed: another caller's container may go between the listing and its inspection.
    for container in client.containers.list(all=True, filters={"label": wanted}, ignore_removed=True):
        if orphans_only and not orphan(container.labels):
            continue
        try:
            container.remove(force=True)
            removed.append(container.name)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            # Another sweep (every run starts with one, and a notebook may start a run while a test
            # session or a terminal does) got there first: the engine answers 409 while it removes.
            if not _removal_in_progress(error):
                raise
    return removed


def _removal_in_progress(error: docker.errors.APIError) -> bool:
    return error.status_code == 409 and "in progress" in str(error.explanation or "")


def owner_labels() -> dict[str, str]:
    """The labels that let `sweep(orphans_only=True)` tell a live caller's container from an orphan."""
    return {LABEL: "1", "purelink.pid": str(os.getpid()), "purelink.host": socket.gethostname()}


def orphan(labels: dict[str, str]) -> bool:
    """Whether a container's starting process ran on this host and is gone."""
    pid = int(labels.get("purelink.pid", "0"))
    return labels.get("purelink.host") == socket.gethostname() and not _alive(pid)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
