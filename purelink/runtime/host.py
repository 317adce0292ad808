"""A pipeline interpreter started before its job is known (`python -m purelink.runtime.host`).

A pipeline process spends about 0.35 s starting Python and importing pyarrow, DuckDB and httpx
before its first request, and the `purelink` command spends about 0.25 s finding the recipe,
its connector and its keys before it can say which module to run. Started first, this process
does the imports while the command does its part (two cores), then reads the job from its stdin
and runs the module exactly as `python MODULE ARGS` would: same `sys.argv`, `sys.path[0]`,
working directory and `__main__`.

The job is one JSON line: `module`, `args`, `cwd`, `env` (variables to set, among them the ones
held back from this process's own environment because their names look secret), `unset`. The
line after it is the runner's usual one (the secrets; `entry.watch_parent`). End of input before
a job: the command did not need this process (a container run, a mistake in the command); it
exits quietly. Its own command line names the module the command expects to run, for `ps`.
"""

from __future__ import annotations

import json
import os
import runpy
import sys


def main() -> None:
    import purelink.runtime.pipeline  # noqa: F401 - the point of this process: loaded before the job comes

    line = sys.stdin.readline()
    if not line.strip():
        os._exit(0)
    job = json.loads(line)
    for name in job.get("unset", ()):
        os.environ.pop(name, None)
    os.environ.update(job.get("env", {}))
    os.chdir(job["cwd"])
    module = job["module"]
    sys.argv = [module, *job.get("args", [])]
    sys.path[0] = os.path.dirname(os.path.abspath(module))
    runpy.run_path(module, run_name="__main__")


if __name__ == "__main__":
    main()
