"""DockerRunner: a generated module run in a hardened, throw-away container.

Same contract as `purelink.execution.jobs.LocalRunner` (a `Job` in, a `RunHandle` out, the same events),
but the pipeline sees only what it needs: its module (read-only), the folder of its DuckDB file
(the only writable mount), a tmpfs for scratch, and its secrets as a read-only file. It runs as a
non-root user with every capability dropped, no-new-privileges, and limits on pids, memory and CPU.

    >>> runner = DockerRunner(on_build=print)        # builds or reuses the runtime image
    >>> result = runner.start(job).collect(on_event=print)

The rooms of this package:
- `runner`: the runner, its limits, `docker_available()`;
- `handle`: one run (launch, events, stop/pause/resume, clean-up);
- `network`: how a container finds the host (`host.docker.internal`, the bridge gateway, loopback
  URLs rewritten with `container_url()`; see docs/docker.md);
- `forward`: loopback services relayed to one run's container only, for the run's duration;
- `watchdog`: containers never outlive the run: removed when it ends, on Ctrl-C or an interrupted
  kernel, at interpreter exit, and, when the caller is killed outright, by a tiny watchdog process;
  `sweep()` removes whatever is left (all carry the label `purelink=1`).
Before a container starts, every service the job names is checked from this machine
(`purelink.execution.reach`), so an unreachable one fails in seconds with the fix.
"""

from purelink.execution.docker.handle import DockerHandle
from purelink.execution.docker.network import (
           LOOPBACK_HOST,
           container_url,
           host_gateway_address,
           interface_address,
)
from purelink.execution.docker.runner import DockerRunner, Limits, docker_available
from purelink.execution.docker.watchdog import sweep

__all__ = ["LOOPBACK_HOST", "DockerHandle", "DockerRunner", "Limits", "container_url", "docker_available",
           "host_gateway_address", "interface_address", "sweep"]
