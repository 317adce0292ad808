"""A run in a container: how it is launched (hardened, secrets through its stdin, loopback
services forwarded to it alone), its events as they arrive, its control, and its clean-up."""

from __future__ import annotations

import codecs
import contextlib
import json
import math
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import docker.errors
import requests.exceptions

from purelink.errors import ExecutionError
from purelink.execution.docker.forward import RunForwarding
from purelink.execution.docker.network import LOOPBACK_HOST, container_url
from purelink.execution.docker.watchdog import owner_labels, spawn_watchdog, track, untrack
from purelink.execution.images import SANDBOX_UID
from purelink.execution.jobs import Job, RunHandle
from purelink.execution.reach import Endpoint
from purelink.runtime.bookkeeping import EXECUTOR_ENV, started_by
from purelink.runtime.entry import PARENT_PIPE
from purelink.runtime.events import parse_event

if TYPE_CHECKING:
    from purelink.execution.docker.runner import DockerRunner

ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


class DockerHandle(RunHandle):
    """A run in a container. `events()` streams as output arrives; `output` keeps non-event lines."""

    isolated = True
    warning = None

    def __init__(self, runner: DockerRunner, job: Job, endpoints: list[Endpoint] | None = None) -> None:
        self.output: list[str] = []
        self.timed_out = False
        self.run_id = _run_id(job)
        self._client = runner.client
        self._grace_s = runner.stop_grace_s
        self._lock = threading.Lock()
        self._exit_code: int | None = None
        self._closed = False
        self._timer: threading.Timer | None = None
        self._stdin = None  # our end of the container's stdin: the secrets, then our life
        self._watch_fd: int | None = None
        self._stream = None
        self._forwarding: RunForwarding | None = None
        self.network: list[str] = []  # what was done so the container reaches loopback services
        self.container = None
        try:
            self._forward(runner, [e for e in endpoints or [] if e.loopback and e.target])
            self._launch(runner, job)
        except BaseException:
            self._cleanup()
            raise

    def _forward(self, runner: DockerRunner, loopback: list[Endpoint]) -> None:
        gateway = runner.gateway if loopback else None  # asked of the engine only when needed
        if gateway is None:
            return
        self._forwarding = RunForwarding(gateway, [e.target for e in loopback])
        self.network = self._forwarding.lines

    def _launch(self, runner: DockerRunner, job: Job) -> None:
        from docker.types import Mount

        data_dir = job.db_path.resolve().parent
        data_dir.mkdir(parents=True, exist_ok=True)
        uid, gid = _run_as(data_dir, job.db_path.name)
        module = job.module.resolve()
        mounts = [Mount(f"/pipeline/{module.name}", str(module), type="bind", read_only=True),
                  Mount("/data", str(data_dir), type="bind", read_only=False)]
        env = {**_container_env(job), "PURELINK_RUN_ID": self.run_id, "PURELINK_IN_CONTAINER": "1",
               "PURELINK_LOOPBACK_HOST": LOOPBACK_HOST, "PYTHONUNBUFFERED": "1", "HOME": "/tmp",
               EXECUTOR_ENV: started_by("docker")}
        # The secrets travel on the container's stdin (the first line, JSON), so they are never in a
        # file, the environment, a label or `docker inspect`. The attach stays open for the run:
        # with stdin_once the engine closes the container's stdin when we let go of it, even by
        # kill -9, and the runtime then stops gracefully (see purelink.runtime.entry.watch_parent).
        env[PARENT_PIPE] = "stdin"
        limits = runner.limits
        command = ["python", f"/pipeline/{module.name}", "--db", f"/data/{job.db_path.name}", *job.args]
        try:
            self.container = self._client.containers.create(
                runner.image, command, name=_container_name(self.run_id), user=f"{uid}:{gid}",
                environment=env, working_dir="/tmp", mounts=mounts, init=True,
                read_only=True, tmpfs={"/tmp": f"rw,nosuid,nodev,noexec,size={limits.tmp_size}"},
                cap_drop=["ALL"], security_opt=["no-new-privileges"], pids_limit=limits.pids,
                mem_limit=limits.memory, memswap_limit=limits.memory,
                nano_cpus=int(min(limits.cpus, runner.ncpu) * 1e9),
                extra_hosts={LOOPBACK_HOST: "host-gateway"},
                labels={**owner_labels(), "purelink.run": self.run_id},
                stdin_open=True,  # docker-py sets StdinOnce with it (not detached)
            )
            track(self.container.id, self._cleanup)
            self._watch_fd = spawn_watchdog(self.container.id, self._grace_s, None)
            self._stdin = self._client.api.attach_socket(self.container.id, params={"stdin": 1, "stream": 1})
            self.container.start()
            _send(self._stdin, (json.dumps(job.secrets) + "\n").encode())
            if self._forwarding is not None:
                self.container.reload()
                self._forwarding.admit(_bridge_address(self.container.attrs))
            self._stream = self.container.logs(stream=True, follow=True)
        except docker.errors.APIError as exc:
            raise ExecutionError(f"The container for this run could not be started: {exc.explanation or exc}",
                                 "Check `docker info`; if the runtime image is broken, remove it with "
                                 f"`docker rmi {runner.image}` so it is rebuilt.") from exc
        if job.timeout_s:
            self._timer = threading.Timer(job.timeout_s, self._time_out, args=(job.timeout_s,))
            self._timer.daemon = True
            self._timer.start()

    # -- the RunHandle contract --------------------------------------------------------------

    def events(self) -> Iterator[dict]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        try:
            for chunk in self._stream:
                pending += decoder.decode(chunk)
                *lines, pending = pending.split("\n")
                for line in lines:
                    event = self._take(line)
                    if event is not None:
                        yield event
            event = self._take(pending + decoder.decode(b"", final=True))
            if event is not None:
                yield event
        except GeneratorExit:  # the caller stopped reading; the run goes on until wait() or stop()
            raise
        except BaseException:  # Ctrl-C or an interrupted kernel: the container must not outlive it
            self._abort()
            raise
        self.wait()

    def collect(self, on_event=None):
        try:
            return super().collect(on_event)
        except BaseException:
            self._abort()
            raise

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s` seconds (the runtime commits and exits on SIGTERM)."""
        self._call("unpause", only_if="paused")
        self._call("stop", timeout=math.ceil(grace_s))

    def pause(self) -> None:
        self._call("pause", only_if="running")

    def resume(self) -> None:
        self._call("unpause", only_if="paused")

    def wait(self) -> int:
        try:
            if self._exit_code is None:
                self._exit_code = self._wait_exit()
            return self._exit_code
        finally:
            self._cleanup()

    # -- internals -----------------------------------------------------------------------------

    def _take(self, line: str) -> dict | None:
        event = parse_event(line)
        if event is None and line.strip():
            self.output.append(line.rstrip("\r"))
        elif event is not None and event["event"] == "finished" and self.network and "checks" in event:
            # The runner's part of the test-run checklist: what it did so the run reaches this machine.
            event["checks"] = [{"name": "local services", "status": "PASS", "detail": line}
                               for line in self.network] + list(event["checks"])
        return event

    def _call(self, action: str, only_if: str | None = None, **kwargs) -> None:
        if self.container is None or self._closed:
            return
        try:
            if only_if is not None:
                self.container.reload()
                if self.container.status != only_if:
                    return
            getattr(self.container, action)(**kwargs)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: the container is not running any more; nothing to do
                raise ExecutionError(f"Could not {action} the run: {exc.explanation or exc}",
                                     "Check `docker info`; if the engine answers, run `purelink recipes run` "
                                     "again (a run left behind is removed by the next one).") from exc

    def _time_out(self, limit_s: float) -> None:
        self.timed_out = True
        self.output.append(f"purelink: the wall-clock limit of {limit_s:g} s was reached; stopping the run")
        self.stop(self._grace_s)

    def _wait_exit(self) -> int:
        if self.container is None:
            return 1
        while True:
            try:
                return int(self.container.wait(timeout=60)["StatusCode"])
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
                try:
                    self._client.ping()  # the engine answers: the run is just long, keep waiting
                except ENGINE_ERRORS:
                    raise ExecutionError("The Docker engine stopped answering during the run.",
                                         "Check `docker info`; the run's container may need "
                                         "`purelink` to sweep it once the engine is back.") from exc
            except docker.errors.NotFound:
                return 137  # removed under us (sweep or watchdog): it was killed

    def _abort(self) -> None:
        if self._exit_code is None and not self._closed:
            with contextlib.suppress(ExecutionError, *ENGINE_ERRORS):
                self.stop(min(self._grace_s, 3.0))
        self._cleanup()

    def _cleanup(self) -> None:
        """Idempotent: cancel the timer, remove the container, drop the secrets, free the watchdog."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._stream is not None:
            with contextlib.suppress(OSError, *ENGINE_ERRORS):  # e.g. an SSH engine cannot cancel
                self._stream.close()
        removed = False
        if self.container is not None:
            untrack(self.container.id)
            # NotFound: already gone. Other errors: the engine is gone; the watchdog or the next
            # sweep finishes the job, and cleanup must never mask the error that brought us here.
            with contextlib.suppress(*ENGINE_ERRORS):
                self.container.remove(force=True)
                removed = True
        if self._forwarding is not None:
            self._forwarding.close()
        if self._stdin is not None:
            with contextlib.suppress(OSError):
                self._stdin.close()
        if self._watch_fd is not None:
            if removed:
                with contextlib.suppress(OSError):
                    os.write(self._watch_fd, b"removed")
            os.close(self._watch_fd)  # EOF releases the watchdog


def _bridge_address(attrs: dict) -> str:
    """The container's address on the bridge: where its connections to the host come from."""
    settings = attrs.get("NetworkSettings") or {}
    for network in (settings.get("Networks") or {}).values():
        if network.get("IPAddress"):
            return network["IPAddress"]
    if settings.get("IPAddress"):
        return settings["IPAddress"]
    raise ExecutionError("The run's container has no address on Docker's bridge network.",
                         "Check `docker network inspect bridge`; the engine may need a restart.")


def _run_id(job: Job) -> str:
    if "--run-id" in job.args[:-1]:
        return job.args[job.args.index("--run-id") + 1]
    return job.env.get("PURELINK_RUN_ID") or uuid.uuid4().hex[:16]


def _container_env(job: Job) -> dict[str, str]:
    """The job's own variables (never the host's), loopback URLs made reachable; secrets refused."""
    values = {value for value in job.secrets.values() if value}
    env = {}
    for key, value in job.env.items():
        if key in job.secrets or value in values:
            raise ExecutionError(f"The job passes the secret {key} as an environment variable.",
                                 "Secrets go in Job.secrets; the runner hands them over on the container's stdin.")
        env[key] = container_url(value) if "://" in value else value
    return env


def _run_as(data_dir: Path, db_name: str) -> tuple[int, int]:
    """The uid:gid the container runs as, and the ownership that lets it write the database.

    The container runs as the owner of the destination folder, so the files it creates belong to
    whoever owns the workspace. The exception is a folder owned by root (a root notebook, CI):
    running as root would undo the isolation, so the run uses the sandbox uid and the folder and
    its database files (only those) are handed to that uid; root on the host keeps full access to
    them regardless. Database files left by someone else (a local run as root) are handed over too."""
    info = data_dir.stat()
    uid, gid = (info.st_uid, info.st_gid) if info.st_uid != 0 else (SANDBOX_UID, SANDBOX_UID)
    paths = [data_dir / db_name, data_dir / f"{db_name}.wal"]
    if info.st_uid == 0:
        paths.insert(0, data_dir)
    for path in paths:
        if not path.exists() or path.stat().st_uid == uid:
            continue
        try:
            os.chown(path, uid, gid)
        except PermissionError as exc:
            raise ExecutionError(f"{path} belongs to another user, so the container (uid {uid}) cannot "
                                 "write the database there.",
                                 "Choose a database in a folder you own (--db), or run as root.") from exc
    return uid, gid


def _container_name(run_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "_.-" else "-" for c in run_id)[:40]
    return f"purelink-{safe}-{uuid.uuid4().hex[:6]}"


def _send(attached, data: bytes) -> None:
    """Write to an attach socket: docker-py hands back a socket, or a SocketIO around one."""
    raw = getattr(attached, "_sock", attached)
    raw.sendall(data)
