"""DockerRunner: the runtime image, the limits of a run, and whether an engine answers at all."""

from __future__ import annotations

import time
from dataclasses import dataclass

from purelink.errors import ExecutionError
from purelink.execution.docker.handle import DockerHandle
from purelink.execution.docker.network import engine_is_local, host_gateway_address
from purelink.execution.docker.watchdog import sweep
from purelink.execution.images import Progress, docker_client, ensure_runtime_image
from purelink.execution.jobs import Job


@dataclass
class Limits:
    """Resources one run may use. CPUs are capped at what the engine has."""

    memory: str = "2g"
    cpus: float = 2.0
    pids: int = 512  # DuckDB and Arrow start a thread per core, and threads count as pids
    tmp_size: str = "256m"


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


class DockerRunner:
    """Runs jobs in containers of the runtime image, built (or reused) when the runner is made.

    Raises ExecutionError, with what to do, when no engine answers or the image cannot be built;
    `start()` raises SourceError, within seconds, when a service the job names is not reachable."""

    name = "docker"
    warning: str | None = None

    def __init__(self, *, image: str | None = None, limits: Limits | None = None,
                 on_build: Progress | None = None, stop_grace_s: float = 10.0, client=None) -> None:
        self.client = client or docker_client()
        self.image = image or ensure_runtime_image(self.client, on_progress=on_build).tag
        self.limits = limits or Limits()
        self.stop_grace_s = stop_grace_s
        self.ncpu = float(self.client.info().get("NCPU") or 1)
        self._gateway: str | None = None

    @property
    def gateway(self) -> str | None:
        """The host's address on the bridge, where loopback services are forwarded; None when the
        engine runs on another machine (a relay here would not be on its bridge)."""
        if self._gateway is None and engine_is_local(self.client):
            self._gateway = host_gateway_address(self.client)
        return self._gateway

    def start(self, job: Job) -> DockerHandle:
        endpoints = job.check_reach()
        sweep(orphans_only=True, client=self.client)
        return DockerHandle(self, job, endpoints)
