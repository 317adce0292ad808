"""Running a recipe from the notebook with a monitor: in the background, or blocking the cell.

In a kernel that shows widgets, `%purelink run` starts the run and returns at once a
`PendingResult`: the kernel stays free, so the monitor's Stop, Pause and Debug buttons answer
while the run goes (a comm message cannot reach a kernel whose main thread is busy in a cell;
ipykernel 7 offers no supported way around that). `r["customers"]` waits for the end of the run
and is then the DataFrame, so `r = %purelink run x` followed by `r["customers"].shape` reads as
if the run had blocked. Elsewhere (a terminal IPython, `--wait`) the run blocks its cell; the
kernel's interrupt stops it gracefully: what was committed stays, the next run resumes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from IPython.core.error import UsageError

from purelink.engine import Engine, Result
from purelink.execution.jobs import Run, RunResult
from purelink.recipes import Recipe


class NotebookEngine(Engine):
    """The engine as `%config Purelink.db_path` sees it: one DuckDB file for every recipe, when set."""

    def __init__(self, workspace=None, *, db_path: str | Path | None = None) -> None:
        super().__init__(workspace)
        self.db_override = self.workspace.db_path(db_path) if db_path else None

    def db_path(self, recipe: Recipe) -> Path:
        return self.db_override or super().db_path(recipe)

    def tables(self, recipe, *, arrow: bool = False) -> dict:
        out = super().tables(recipe, arrow=arrow)
        # duckdb 2 answers `.arrow()` with a RecordBatchReader: a person asked for tables
        return {k: v.read_all() if hasattr(v, "read_all") else v for k, v in out.items()}


def scratch_db(engine: Engine, recipe: Recipe) -> Path:
    """A fresh database for a test run, so samples never mix with loaded data."""
    path = engine.workspace.data / f".scratch_{recipe.name}.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".wal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


def start(engine: Engine, recipe: Recipe, monitor, **options) -> Run:
    """Start the run (errors such as a missing key raise here, in the cell) and wire the monitor."""
    handle = engine.start(recipe, **options)
    if handle.warning:
        monitor.note(handle.warning)
    monitor.attach(handle)
    return handle


def failed_event(result: RunResult) -> dict:
    """A `finished` event for a run that ended without one (it crashed or was killed)."""
    detail = result.failure or ("\n".join(result.output[-5:]) or f"exit code {result.exit_code}")
    return {"status": "failed", "error": detail, "records": 0, "streams": {}}


def follow(engine: Engine, run: Run, monitor) -> RunResult:
    """Follow the run to its end (log, monitor); Ctrl-C or the kernel's interrupt stops it."""
    def interrupted() -> None:
        monitor.note("Interrupted: stopping the run; what was committed stays, the next run resumes.")
        monitor.stop()

    result = run.collect(on_event=engine.logged(monitor), on_interrupt=interrupted)
    monitor.finish(result.finished or failed_event(result))
    return result


def run_blocking(engine: Engine, recipe: Recipe, *, monitor, **options) -> RunResult:
    return follow(engine, start(engine, recipe, monitor, **options), monitor)


class PendingResult(Mapping):
    """A run going on in the background. `r["customers"]` waits for its end, then is the table;
    `r.wait()` gives the `purelink.engine.Result`; `r.stop()`, `r.pause()`, `r.resume()` act on it."""

    def __init__(self, engine: Engine, recipe: Recipe, handle, monitor, *, arrow: bool = False) -> None:
        self.recipe = recipe
        self.monitor = monitor
        self.display = None  # the monitor's DisplayHandle: its text fallback gets the summary at the end
        self.db_path = engine.db_path(recipe)
        self._engine, self._handle, self._arrow = engine, handle, arrow
        self._done = threading.Event()
        self._run: RunResult | None = None
        self._result: Result | None = None
        self._thread = threading.Thread(target=self._follow, daemon=True, name=f"purelink-run-{recipe.name}")
        self._thread.start()

    def _follow(self) -> None:
        try:
            self._run = follow(self._engine, self._handle, self.monitor)
            if self.display is not None:
                self.display.update(self.monitor)
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def join(self) -> None:
        """Wait for the end of the run (interrupting the wait stops the run)."""
        try:
            self._done.wait()
        except KeyboardInterrupt:
            self.monitor.note("Interrupted while waiting: stopping the run.")
            self.monitor.stop()
            self._done.wait()

    def wait(self, timeout: float | None = None) -> Result:
        """The finished run's Result; a failed run raises UsageError. Interrupting the wait stops the run."""
        if timeout is not None and not self._done.wait(timeout):
            raise TimeoutError(f"{self.recipe.name} is still running after {timeout} s")
        self.join()
        if self._result is None:
            run = self._run or RunResult(exit_code=-1, events=[], output=["the run's events were lost"])
            done = run.finished or {}
            if not run.ok and done.get("status") != "stopped":
                raise UsageError(f"The run of {self.recipe.name} did not succeed: "
                                 f"{done.get('error') or 'see its summary'}\n"
                                 f"{done.get('guidance') or f'The events are in {self._engine.workspace.logs}.'}")
            self._result = Result(self.recipe, run, self._engine.tables(self.recipe, arrow=self._arrow))
        return self._result

    def stop(self) -> None:
        self.monitor.stop()

    def pause(self) -> None:
        self._handle.pause()

    def resume(self) -> None:
        self._handle.resume()

    @property
    def ok(self) -> bool:
        return self.wait().ok

    @property
    def summary(self) -> dict:
        return self.wait().summary

    def __getitem__(self, stream: str):
        return self.wait()[stream]

    def __iter__(self) -> Iterator[str]:
        return iter(self.wait())

    def __len__(self) -> int:
        return len(self.wait())

    def __repr__(self) -> str:
        if self._result is not None:
            return repr(self._result)
        state = "finished" if self.done else "running"
        return (f"<purelink run {self.recipe.name} v{self.recipe.version}: {state}; "
                f"r[\"{self.recipe.streams[0].name}\"] waits for the end and gives the table>")


def run_in_background(engine: Engine, recipe: Recipe, *, monitor, arrow: bool = False,
                      **options) -> PendingResult:
    return PendingResult(engine, recipe, start(engine, recipe, monitor, **options), monitor, arrow=arrow)
