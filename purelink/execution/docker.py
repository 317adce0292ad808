"""DockerRunner: a generated module run in a hardened, throw-away container.

Same contract as `purelink.execution.jobs.LocalRunner` (a `Job` in, a `RunHandle` out, the same events),
but the pipeline sees only what it needs: its module (read-only), the folder of its DuckDB file
(the only writable mount), a tmpfs for scratch, and its secrets as a read-only file. It runs as a
non-root user with every capability dropped, no-new-privileges, and limits on pids, memory and CPU.

    >>> runner = DockerRunner(on_build=print)        # builds or reuses the runtime image
    >>> result = runner.start(job).collect(on_event=print)

Containers never outlive the run: removed when it ends, on Ctrl-C or an interrupted kernel, at
interpreter exit, and, when the caller is killed outright, by a tiny watchdog process; `sweep()`
removes whatever is left (all carry the label `purelink=1`).

Networking: the default bridge network (a real API is reached through the host's NAT), plus the
name `host.docker.internal` for the host itself. Loopback URLs mean the container itself inside
it, so they are rewritten with `container_url()`; see docs/docker.md.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import math
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import docker.errors
import requests.exceptions

from purelink.errors import ExecutionError
from purelink.execution.images import SANDBOX_UID, Progress, docker_client, ensure_runtime_image
from purelink.execution.jobs import Job, RunHandle, remove_secrets_file, write_secrets_file
from purelink.runtime.events import parse_event

__all__ = ["LOOPBACK_HOST", "DockerRunner", "Limits", "container_url", "docker_available",
           "host_gateway_address", "sweep"]

LABEL = "purelink"
LOOPBACK_HOST = "host.docker.internal"
SECRETS_PATH = "/run/purelink/secrets.json"
_ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


@dataclass
class Limits:
    """Resources one run may use. CPUs are capped at what the engine has."""

    memory: str = "2g"
    cpus: float = 2.0
    pids: int = 512  # DuckDB and Arrow start a thread per core, and threads count as pids
    tmp_size: str = "256m"


def container_url(url: str, host: str = LOOPBACK_HOST) -> str:
    """`url` as seen from inside a container: a loopback host (localhost, 127.0.0.0/8, ::1,
    0.0.0.0) becomes `host`, which resolves to the Docker host; anything else is unchanged.

    >>> container_url("http://127.0.0.1:8111/v1")
    'http://host.docker.internal:8111/v1'
    """
    parts = urlsplit(url)
    name = parts.hostname
    if not name or not _is_loopback(name):
        return url
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if "@" in parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urlunsplit(parts._replace(netloc=netloc))


def _is_loopback(name: str) -> bool:
    if name.lower() in _LOOPBACK_NAMES:
        return True
    try:
        address = ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def host_gateway_address(client=None) -> str:
    """The host's address on Docker's default bridge (what `host.docker.internal` resolves to in
    our containers). A server on the host that containers must reach listens here (or on 0.0.0.0)
    as well as on 127.0.0.1, which containers cannot reach.

    A freshly started engine often lists only the subnet in the bridge's IPAM config, so the address
    is looked up in three places, most certain first: the IPAM gateway, the bridge interface's own
    address on this host, then the subnet's first host address (which is what dockerd assigns)."""
    client = client or docker_client()
    attrs = client.networks.get("bridge").attrs
    configs = (attrs.get("IPAM") or {}).get("Config") or []
    for config in configs:
        if config.get("Gateway"):
            return config["Gateway"].split("/")[0]
    interface = (attrs.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
    address = interface_address(interface)
    if address:
        return address
    for config in configs:
        with contextlib.suppress(ValueError, KeyError):
            network = ip_network(config["Subnet"], strict=False)
            if network.version == 4 and network.num_addresses > 2:
                return str(next(network.hosts()))
    raise ExecutionError("Docker's default bridge network has no gateway address.",
                         "Check `docker network inspect bridge`; the engine may need a restart.")


def interface_address(name: str) -> str | None:
    """The IPv4 address of network interface `name` on this host, or None (absent, or not Linux)."""
    try:
        import fcntl
        import struct
    except ImportError:
        return None
    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            packed = fcntl.ioctl(probe.fileno(), siocgifaddr, struct.pack("256s", name[:15].encode()))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


_available: tuple[float, bool] | None = None


def docker_available(*, refresh: bool = False, ttl_s: float = 30.0, timeout_s: float = 2.0) -> bool:
    """Whether a Docker engine answers a ping within `timeout_s`; remembered for `ttl_s`."""
    global _available
    now = time.monotonic()
    if not refresh and _available is not None and now - _available[0] < ttl_s:
        return _available[1]
    try:
        docker_client(timeout=timeout_s).close()
        ok = True
    except ExecutionError:
        ok = False
    _available = (now, ok)
    return ok


def sweep(*, orphans_only: bool = False, run_id: str | None = None, client=None) -> list[str]:
    """Remove purelink containers (label `purelink=1`) and return their names: all of them, only
    those of one run (`run_id`), or only those whose starting process on this host is gone
    (`orphans_only`), which leaves the runs of other live notebooks and test sessions alone."""
    client = client or docker_client()
    wanted = [f"{LABEL}=1"] + ([f"purelink.run={run_id}"] if run_id else [])
    removed = []
    for container in client.containers.list(all=True, filters={"label": wanted}):
        if orphans_only and not _orphan(container.labels):
            continue
        try:
            container.remove(force=True)
            removed.append(container.name)
        except docker.errors.NotFound:
            pass
    return removed


def _orphan(labels: dict[str, str]) -> bool:
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


class DockerRunner:
    """Runs jobs in containers of the runtime image, built (or reused) when the runner is made.

    Raises ExecutionError, with what to do, when no engine answers or the image cannot be built."""

    name = "docker"
    warning: str | None = None

    def __init__(self, *, image: str | None = None, limits: Limits | None = None,
                 on_build: Progress | None = None, stop_grace_s: float = 10.0, client=None) -> None:
        self.client = client or docker_client()
        self.image = image or ensure_runtime_image(self.client, on_progress=on_build).tag
        self.limits = limits or Limits()
        self.stop_grace_s = stop_grace_s
        self._ncpu = float(self.client.info().get("NCPU") or 1)

    def start(self, job: Job) -> DockerHandle:
        sweep(orphans_only=True, client=self.client)
        return DockerHandle(self, job)


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

_live: dict[str, DockerHandle] = {}


@atexit.register
def _remove_live_containers() -> None:
    for handle in list(_live.values()):
        handle._cleanup()


class DockerHandle(RunHandle):
    """A run in a container. `events()` streams as output arrives; `output` keeps non-event lines."""

    isolated = True
    warning = None

    def __init__(self, runner: DockerRunner, job: Job) -> None:
        self.output: list[str] = []
        self.timed_out = False
        self.run_id = _run_id(job)
        self._client = runner.client
        self._grace_s = runner.stop_grace_s
        self._lock = threading.Lock()
        self._exit_code: int | None = None
        self._closed = False
        self._timer: threading.Timer | None = None
        self._secrets_path: Path | None = None
        self._watch_fd: int | None = None
        self._stream = None
        self.container = None
        try:
            self._launch(runner, job)
        except BaseException:
            self._cleanup()
            raise

    def _launch(self, runner: DockerRunner, job: Job) -> None:
        from docker.types import Mount

        data_dir = job.db_path.resolve().parent
        data_dir.mkdir(parents=True, exist_ok=True)
        uid, gid = _run_as(data_dir, job.db_path.name)
        module = job.module.resolve()
        mounts = [Mount(f"/pipeline/{module.name}", str(module), type="bind", read_only=True),
                  Mount("/data", str(data_dir), type="bind", read_only=False)]
        env = {**_container_env(job), "PURELINK_RUN_ID": self.run_id, "PURELINK_IN_CONTAINER": "1",
               "PURELINK_LOOPBACK_HOST": LOOPBACK_HOST, "PYTHONUNBUFFERED": "1", "HOME": "/tmp"}
        if job.secrets:
            self._secrets_path = write_secrets_file(job.secrets)
            _give(self._secrets_path, uid, gid)
            mounts.append(Mount(SECRETS_PATH, str(self._secrets_path), type="bind", read_only=True))
            env["PURELINK_SECRETS_FILE"] = SECRETS_PATH
        limits = runner.limits
        command = ["python", f"/pipeline/{module.name}", "--db", f"/data/{job.db_path.name}", *job.args]
        try:
            self.container = self._client.containers.create(
                runner.image, command, name=_container_name(self.run_id), user=f"{uid}:{gid}",
                environment=env, working_dir="/tmp", mounts=mounts, init=True,
                read_only=True, tmpfs={"/tmp": f"rw,nosuid,nodev,noexec,size={limits.tmp_size}"},
                cap_drop=["ALL"], security_opt=["no-new-privileges"], pids_limit=limits.pids,
                mem_limit=limits.memory, memswap_limit=limits.memory,
                nano_cpus=int(min(limits.cpus, runner._ncpu) * 1e9),
                extra_hosts={LOOPBACK_HOST: "host-gateway"},
                labels={LABEL: "1", "purelink.run": self.run_id, "purelink.pid": str(os.getpid()),
                        "purelink.host": socket.gethostname()},
            )
            _live[self.container.id] = self
            self._watch_fd = _spawn_watchdog(self.container.id, self._grace_s, self._secrets_path)
            self.container.start()
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
                raise ExecutionError(f"Could not {action} the run: {exc.explanation or exc}") from exc

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
                except _ENGINE_ERRORS:
                    raise ExecutionError("The Docker engine stopped answering during the run.",
                                         "Check `docker info`; the run's container may need "
                                         "`purelink` to sweep it once the engine is back.") from exc
            except docker.errors.NotFound:
                return 137  # removed under us (sweep or watchdog): it was killed

    def _abort(self) -> None:
        if self._exit_code is None and not self._closed:
            with contextlib.suppress(ExecutionError, *_ENGINE_ERRORS):
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
            with contextlib.suppress(OSError, *_ENGINE_ERRORS):  # e.g. an SSH engine cannot cancel
                self._stream.close()
        removed = False
        if self.container is not None:
            _live.pop(self.container.id, None)
            # NotFound: already gone. Other errors: the engine is gone; the watchdog or the next
            # sweep finishes the job, and cleanup must never mask the error that brought us here.
            with contextlib.suppress(*_ENGINE_ERRORS):
                self.container.remove(force=True)
                removed = True
        if self._secrets_path is not None:
            remove_secrets_file(self._secrets_path)
        if self._watch_fd is not None:
            if removed:
                with contextlib.suppress(OSError):
                    os.write(self._watch_fd, b"removed")
            os.close(self._watch_fd)  # EOF releases the watchdog


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
                                 "Secrets go in Job.secrets; the runner mounts them as a file.")
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


def _give(path: Path, uid: int, gid: int) -> None:
    """Make the 0600 secrets file readable by the container's user (and nobody else)."""
    if os.stat(path).st_uid == uid:
        return
    try:
        os.chown(path, uid, gid)
    except PermissionError as exc:
        raise ExecutionError("The secrets file cannot be handed to the container's user.",
                             "Run as the owner of the data folder, or as root.") from exc


def _spawn_watchdog(container_id: str, grace_s: float, secrets: Path | None) -> int:
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

