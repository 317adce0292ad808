"""Running a generated pipeline module: the Job, the handle on a run, the Run the engine
follows to its end, and the LocalRunner.

A runner starts `python pipelines/NAME.py ARGS` somewhere (a subprocess here, a container in
`purelink.execution.docker`) and hands back a `RunHandle` whose `events()` yields the runtime's
JSON events as they happen. The engine wraps it in a `Run` (the job, the warning to show), and
`Run.collect()` is the one place a run is followed to its end, for the command line, the wizard
and the notebook alike. Secrets never travel as environment variables: a local run reads them
from a pipe on its stdin; a container gets a file readable by the owner only, named by
`PURELINK_SECRETS_FILE`.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from purelink.execution import prestart
from purelink.runtime.events import parse_event

if TYPE_CHECKING:
    from purelink.execution.reach import Endpoint

# The runtime's settings a run takes from the environment of whoever starts it: a container gets
# only its job's variables, so these are handed over by name (never a secret; see duckdb_connection).
RUNTIME_SETTINGS = ("PURELINK_DUCKDB_MEMORY_LIMIT",)


def runtime_settings() -> dict[str, str]:
    """The runtime settings set here, for `Job.env`."""
    return {name: os.environ[name] for name in RUNTIME_SETTINGS if os.environ.get(name, "").strip()}


@dataclass
class Job:
    """One invocation of a generated module."""

    module: Path
    workspace: Path
    db_path: Path
    args: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float | None = None
    urls: list[str] = field(default_factory=list)  # services it connects to, checked before it starts
    recipe: str = ""  # the recipe it runs, named in the fixes a failed check suggests

    def check_reach(self) -> list[Endpoint]:
        """The endpoints of the services it connects to (its URLs and settings' URLs), each checked
        from this machine; SourceError when one does not answer (see `reach.check_urls`)."""
        from purelink.execution.reach import check_urls

        return check_urls([*self.urls, *(v for v in self.env.values() if "://" in v)], recipe=self.recipe)

    def __repr__(self) -> str:  # secrets stay out of reprs and tracebacks
        return f"Job(module={str(self.module)!r}, args={self.args!r}, secrets={sorted(self.secrets)!r})"


@dataclass
class RunResult:
    exit_code: int
    events: list[dict]
    output: list[str]  # lines that were not events (plain prints, logs)
    warning: str | None = None  # shown to the user: a local run is not isolated, ...
    isolated: bool = False  # ran in a container
    failure: str | None = None  # reading the events broke (the run had no say in it)

    @property
    def finished(self) -> dict | None:
        return next((e for e in reversed(self.events) if e["event"] == "finished"), None)

    @property
    def ok(self) -> bool:
        done = self.finished
        return self.exit_code == 0 and done is not None and done.get("status") == "success"

    @property
    def stopped(self) -> bool:
        """Stopped on request ('q', Ctrl-C, the notebook's Stop): state saved, not a failure."""
        done = self.finished
        return done is not None and done.get("status") == "stopped"


class RunHandle:
    """A runner's handle on a run under way. Iterate `events()`; `stop()`, `pause()` and
    `resume()` control it; `output` keeps the lines that were not events."""

    isolated: bool = False
    warning: str | None = None
    output: list[str]

    def events(self) -> Iterator[dict]:
        raise NotImplementedError

    def stop(self, grace_s: float = 10.0) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        raise NotImplementedError

    def resume(self) -> None:
        raise NotImplementedError

    def wait(self) -> int:
        raise NotImplementedError

    def collect(self, on_event=None) -> RunResult:
        """Consume the whole run in this thread; `on_event` sees each event as it arrives. The
        runner-level primitive: product code follows a `Run` instead."""
        events = []
        for event in self.events():
            events.append(event)
            if on_event is not None:
                on_event(event)
        code = self.wait()
        return RunResult(exit_code=code, events=events, output=list(self.output), isolated=self.isolated)


_END = object()


@dataclass
class Run:
    """A run the engine started: the runner's handle, the job it runs and the warning to show.

    `events()` gives the user's own database path where a container reports its own (/data/...).
    `collect()` follows the run to its end; events are read in a helper thread, so the caller's
    thread stays free for Ctrl-C or a kernel's interrupt, which stop the run gracefully (what was
    committed stays; the next run resumes).
    """

    handle: RunHandle
    job: Job
    warning: str | None = None
    stop_requested: bool = field(default=False, init=False)  # 'q', Ctrl-C, the notebook's Stop

    @property
    def isolated(self) -> bool:
        return self.handle.isolated

    @property
    def output(self) -> list[str]:
        return self.handle.output

    def events(self) -> Iterator[dict]:
        shown = str(self.job.db_path)
        for event in self.handle.events():
            # the container's own path of the DuckDB file means nothing on the host; a warehouse's URL does
            if self.isolated and str(event.get("destination", "")).startswith("/"):
                event = {**event, "destination": shown}
            yield event

    def stop(self, grace_s: float = 10.0) -> None:
        self.stop_requested = True
        self.handle.stop(grace_s)

    def pause(self) -> None:
        self.handle.pause()

    def resume(self) -> None:
        self.handle.resume()

    def wait(self) -> int:
        return self.handle.wait()

    def collect(self, on_event: Callable[[dict], None] | None = None,
                on_interrupt: Callable[[], None] | None = None) -> RunResult:
        """Follow the run to its end. `on_event` sees each event (in the caller's thread);
        `on_interrupt` is called on Ctrl-C (default: stop the run in the background)."""
        inbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(inbox,), daemon=True, name="purelink-events").start()
        events: list[dict] = []
        failure: str | None = None
        while True:
            try:
                item = inbox.get(timeout=0.5)  # a timeout keeps the wait interruptible everywhere
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    failure = f"{type(item).__name__}: {item}"
                    continue
                events.append(item)
                if on_event is not None:
                    on_event(item)
            except queue.Empty:
                continue
            except KeyboardInterrupt:
                (on_interrupt or self._stop_in_background)()
        code = self.wait()
        if not any(e.get("event") == "finished" for e in events):
            events.append(self._rebuilt_summary(events, code, failure, on_event))
        return RunResult(exit_code=code, events=events, output=list(self.output), warning=self.warning,
                         isolated=self.isolated, failure=failure)

    def _rebuilt_summary(self, events: list[dict], code: int, failure: str | None, on_event) -> dict:
        """The process ended without its summary (see purelink.execution.unfinished): one is made
        from the events that came, shown and logged like the runtime's own, and a local DuckDB
        file's executions row is closed with the cause."""
        from purelink.execution import unfinished

        finished = unfinished.summary(events, code, list(self.output), stop_requested=self.stop_requested,
                                      failure=failure)
        if finished.get("destination") and Path(str(finished["destination"])) == self.job.db_path:
            unfinished.close_execution(self.job.db_path, finished)
            finished["storage_bytes"] = self.job.db_path.stat().st_size if self.job.db_path.exists() else None
        if on_event is not None:
            on_event(finished)
        return finished

    def _pump(self, sink: queue.Queue) -> None:
        try:
            for event in self.events():
                sink.put(event)
        except Exception as exc:  # noqa: BLE001 - handed to the following thread, which reports it
            sink.put(exc)
        finally:
            sink.put(_END)

    def _stop_in_background(self) -> None:
        threading.Thread(target=self.stop, daemon=True, name="purelink-stop").start()


class Runner(Protocol):
    """Where a job runs: `LocalRunner` here, `DockerRunner` in a container. A new runner is one
    module in purelink/execution/ with a class of this shape and a `RunHandle` subclass."""

    name: str

    def start(self, job: Job) -> RunHandle: ...


def write_secrets_file(secrets: dict[str, str], directory: Path | None = None) -> Path:
    """A JSON file of secrets, mode 0600, in a private temporary directory."""
    folder = Path(tempfile.mkdtemp(prefix="purelink-secrets-", dir=directory))
    os.chmod(folder, 0o700)
    path = folder / "secrets.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(secrets, fh)
    return path


def remove_secrets_file(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
        path.parent.rmdir()
    except OSError:
        pass


class LocalRunner:
    """Runs the module as a subprocess of this Python. Not isolated: it says so."""

    name = "local"
    warning = ("Running locally, not isolated in a container: the pipeline has the same access to "
               "this machine as you do.")

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable

    def start(self, job: Job) -> _LocalHandle:
        """Raises SourceError, within seconds, when a service the job names does not answer: a
        refused port is a wrong URL or a stopped server, not something retries will mend."""
        job.check_reach()
        return _LocalHandle(self, job)


class _LocalHandle(RunHandle):
    isolated = False

    def __init__(self, runner: LocalRunner, job: Job) -> None:
        self.warning = runner.warning
        self.output: list[str] = []
        env = prestart.pipeline_env(job.secrets, job.env)
        args = ["--db", str(job.db_path), *job.args]
        # Secrets go down a pipe, never into a file: a kill -9 of this process leaves nothing on
        # disk. The pipe stays open for the whole run; its end tells the pipeline we are gone.
        # `purelink recipes run` started the process already (prestart.py); otherwise it starts now.
        self._proc = prestart.take(runner.python, str(job.module), args, str(job.workspace), job.env,
                                   job.secrets) or subprocess.Popen(
            [runner.python, str(job.module), *args], cwd=job.workspace, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True,
        )
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(job.secrets) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # the module died at once; its output says why
        self._deadline = time.monotonic() + job.timeout_s if job.timeout_s else None
        self._timer = None
        if job.timeout_s:
            self._timer = threading.Timer(job.timeout_s, self.stop)
            self._timer.daemon = True
            self._timer.start()

    def events(self) -> Iterator[dict]:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            event = parse_event(line)
            if event is None:
                if line.strip():
                    self.output.append(line.rstrip("\n"))
                continue
            yield event
        self.wait()

    def _signal(self, sig: int) -> None:
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace_s: float = 10.0) -> None:
        self._signal(signal.SIGTERM)
        self._signal(signal.SIGCONT)  # a paused run only handles the SIGTERM once it runs again
        try:
            self._proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def wait(self) -> int:
        code = self._proc.wait()
        if self._timer is not None:
            self._timer.cancel()
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        return code
