"""Starting the local pipeline process early: `purelink recipes run` calls `prestart()` first
thing, and the LocalRunner takes that process (`take()`) instead of starting one once the job
is known. The process (`purelink.runtime.host`) imports the runtime meanwhile; see there.

Kept small on purpose: it is imported before anything else of the command.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

# Names of variables that may hold a key: held back from the early process's environment (the
# runner hands a job's secrets over a pipe, never in an environment), and handed back through the
# job line for a run that does not treat them as secrets.
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH", re.IGNORECASE)

_early: tuple[subprocess.Popen, dict[str, str]] | None = None


def pipeline_env(leave_out, settings: dict[str, str]) -> dict[str, str]:
    """The environment of a local pipeline process: this one's without the names in `leave_out`
    (their values go down the pipe, if at all) and without a container's secrets file, with the
    job's `settings`, unbuffered output, its executor and the pipe it reads."""
    from purelink.runtime.bookkeeping import EXECUTOR_ENV, PARENT_PIPE, started_by

    env = {k: v for k, v in os.environ.items() if k not in leave_out and k != "PURELINK_SECRETS_FILE"}
    env.update(settings)
    env.update({"PYTHONUNBUFFERED": "1", EXECUTOR_ENV: started_by("local"), PARENT_PIPE: "stdin"})
    return env


def prestart(expected: Path) -> None:
    """Start the pipeline interpreter now; it waits for `take()`'s caller to send the job.
    `expected`, the module the run will most likely be, goes on its command line for `ps` and
    whoever looks for the run's process by its module; the job decides what runs."""
    global _early
    discard()  # one left by an earlier command in this process has that command's environment
    held = {k: v for k, v in os.environ.items() if SECRET_NAME.search(k)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "purelink.runtime.host", str(expected)], env=pipeline_env(held, {}),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True,
    )
    _early = (proc, held)


def take(python: str, module: str, args: list[str], cwd: str, env: dict[str, str],
         secrets: dict[str, str]) -> subprocess.Popen | None:
    """The early process with its job sent, or None (none started, it died, or another Python
    is wanted). `env` is set and the names in `secrets` unset before the module runs."""
    global _early
    if _early is None:
        return None
    (proc, held), _early = _early, None
    if python != sys.executable or proc.poll() is not None:
        _drop(proc)
        return None
    job = {"module": module, "args": args, "cwd": cwd, "unset": sorted(secrets),
           "env": {**{k: v for k, v in held.items() if k not in secrets}, **env}}
    try:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(job) + "\n")
        proc.stdin.flush()
    except (BrokenPipeError, OSError):
        _drop(proc)
        return None
    return proc


def discard() -> None:
    """Not needed after all (a container run, a failed command)."""
    global _early
    if _early is not None:
        _drop(_early[0])
        _early = None


def _drop(proc: subprocess.Popen) -> None:
    """Ended at once, not at the end of its input: it would first finish its imports (0.3 s), and
    a command that failed (a misspelled recipe) should not wait for that. It has no job, so no
    handler of its own yet: SIGTERM ends it where it is."""
    try:
        proc.terminate()
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
    if proc.stdout is not None:
        proc.stdout.close()
