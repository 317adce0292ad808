"""Scheduled runs on one machine: an entry in the user's crontab that works under cron.

Cron starts commands with almost no environment (PATH=/usr/bin:/bin, HOME, SHELL=/bin/sh) from the
home folder, so the entry names everything itself: the absolute interpreter that has purelink, the
workspace, a lock (flock) so a slow run is never joined by the next one, and the recipe's log.

    install(workspace, "stripe_customers", every="daily", at="02:00")
    entries()                       # what purelink installed, for every workspace
    remove(workspace, "stripe_customers")

Each entry is two crontab lines: a marker comment that `list` and `remove` recognise, then the job.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from purelink.errors import PurelinkError
from purelink.runtime.bookkeeping import EXECUTOR_ENV

if TYPE_CHECKING:
    from purelink.workspace import Workspace

MARKER = "# purelink schedule "
# Settings purelink reads from the environment that cron would not pass on: where the code, the vault
# and the base image are. Never a secret (the key stays in the vault, found through PURELINK_HOME).
CARRIED = ("PYTHONPATH", "PURELINK_HOME", "PURELINK_VAULT_KEYRING", "PURELINK_BASE_IMAGE", "DOCKER_HOST")
SKIPPED_EXIT = 75  # flock's exit status when another run holds the lock (EX_TEMPFAIL)
AT = re.compile(r"^(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)$")


class ScheduleError(PurelinkError):
    pass


@dataclass(frozen=True)
class Entry:
    name: str
    workspace: Path
    every: str
    at: str
    line: str

    @property
    def command(self) -> str:
        """The shell command cron runs: the line without its five time fields, `\\%` back to `%`."""
        return self.line.split(None, 5)[5].replace("\\%", "%")


def crontab_command() -> str:
    found = shutil.which("crontab")
    if found is None:
        raise ScheduleError("The `crontab` command is not installed, so runs cannot be scheduled on this machine.",
                            "Install cron (apt-get install -y cron) and start it (service cron start), then try again.")
    return found


def read_crontab() -> list[str]:
    proc = subprocess.run([crontab_command(), "-l"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        if "no crontab" in proc.stderr.lower():
            return []
        raise ScheduleError(f"Could not read your crontab: {proc.stderr.strip()}",
                            "Check that you may use cron (/etc/cron.allow, /etc/cron.deny).")
    return proc.stdout.splitlines()


def write_crontab(lines: list[str]) -> None:
    if not any(line.strip() for line in lines):  # nothing left: no crontab, as before the first entry
        proc = subprocess.run([crontab_command(), "-r"], capture_output=True, text=True, check=False)
        if proc.returncode == 0 or "no crontab" in proc.stderr.lower():
            return
    else:
        text = "".join(line + "\n" for line in lines)
        proc = subprocess.run([crontab_command(), "-"], input=text, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ScheduleError(f"Could not write your crontab: {proc.stderr.strip()}",
                            "Check that you may use cron (/etc/cron.allow, /etc/cron.deny).")


def timing(every: str, at: str | None) -> tuple[str, str]:
    """Cron's five time fields and the `at` shown back: hourly at minute MM, daily at HH:MM."""
    at = at or ("00:00" if every == "hourly" else "03:00")  # the design stage's plan says 03:00
    m = AT.match(at)
    if not m:
        raise ScheduleError(f"--at {at!r} is not a time of day.", "Give it as HH:MM, e.g. --at 02:30 "
                            "(with --hourly only the minutes count).")
    hour, minute = int(m["hour"]), int(m["minute"])
    if every == "hourly":
        return f"{minute} * * * *", f":{minute:02d}"
    if every == "daily":
        return f"{minute} {hour} * * *", f"{hour:02d}:{minute:02d}"
    raise ScheduleError(f"{every!r} is not a schedule purelink installs.", "Use --hourly or --daily.")


def job_command(workspace: Workspace, name: str, *, python: str | None = None) -> str:
    """The shell command of the entry: locked, from the workspace, output appended to the recipe's log."""
    root = workspace.root
    q = shlex.quote
    python = python or os.path.abspath(sys.executable)  # not resolved: a venv's python is a symlink
    flock = shutil.which("flock") or "/usr/bin/flock"
    lock = workspace.logs / f".{name}.lock"
    log = workspace.logs / f"{name}.log"
    env = " ".join([f"{var}={q(os.environ[var])}" for var in CARRIED if os.environ.get(var)]
                   + [f"{EXECUTOR_ENV}=cron"])  # the executions row says cron started the run
    run = (f"{flock} -n -E {SKIPPED_EXIT} {q(str(lock))} {q(python)} -m purelink.cli recipes run {q(name)} "
           f"--workspace {q(str(root))}")
    skipped = f"echo \"purelink: {name} skipped at $(date -u): the previous run still holds {lock.name}\""
    return (f"cd {q(str(root))} && {{ {env} {run}; "
            f"[ $? -ne {SKIPPED_EXIT} ] || {skipped}; }} >> {q(str(log))} 2>&1")


def install(workspace: Workspace, name: str, *, every: str, at: str | None = None) -> Entry:
    """Add (or replace) the entry that runs recipe `name` of this workspace."""
    fields, shown = timing(every, at)
    workspace.logs.mkdir(parents=True, exist_ok=True)
    line = f"{fields} {job_command(workspace, name)}".replace("%", "\\%")  # cron reads % as a newline
    marker = f"{MARKER}{name} every={every} at={shown} workspace={workspace.root}"
    lines = _without(read_crontab(), workspace.root, name)
    write_crontab([*lines, marker, line])
    return Entry(name, workspace.root, every, shown, line)


def entries() -> list[Entry]:
    """The entries purelink installed in this user's crontab, for every workspace."""
    found, lines = [], read_crontab()
    for i, line in enumerate(lines):
        parsed = _parse_marker(line)
        if parsed and i + 1 < len(lines):
            name, every, at, root = parsed
            found.append(Entry(name, root, every, at, lines[i + 1]))
    return found


def remove(workspace: Workspace, name: str) -> bool:
    """Remove the entry of recipe `name` of this workspace; False when there was none."""
    lines = read_crontab()
    kept = _without(lines, workspace.root, name)
    if kept == lines:
        return False
    write_crontab(kept)
    return True


def _parse_marker(line: str) -> tuple[str, str, str, Path] | None:
    if not line.startswith(MARKER):
        return None
    m = re.match(r"^(\S+) every=(\S+) at=(\S+) workspace=(.+)$", line[len(MARKER):])
    return (m[1], m[2], m[3], Path(m[4])) if m else None


def _without(lines: list[str], root: Path, name: str) -> list[str]:
    kept, skip = [], False
    for line in lines:
        if skip:
            skip = False
            continue
        parsed = _parse_marker(line)
        if parsed and parsed[0] == name and parsed[3] == root:
            skip = True  # the job line after the marker goes too
            continue
        kept.append(line)
    return kept
