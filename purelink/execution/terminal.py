"""The live monitor of a run in a terminal: the spec's box, drawn with rich, and its keys.

    | Status: RUNNING                                          |
    | Progress: ########...... 1,247/about 3,400 (36%)         |
    | Rate: 24 req/s (within limit of 25/s)                    |
    | ETA: 2 minutes 15 seconds                                |
    | Errors: 0 | Warnings: 3 | Rejected: 0                    |
    | Storage: 245.0 KB -> data/stripe.duckdb                  |
    Press 'q' to stop | 'p' to pause | 'd' for debug

When the output is not a terminal (CI logs, pipes) the same figures go out as plain lines every
few seconds, with no escape codes. The figures come from `purelink.execution.progress`.

    with ConsoleMonitor(title="stripe_customers") as monitor:
        run = engine.start(recipe)
        monitor.attach(run, resume_hint="purelink recipes run stripe_customers")
        result = run.collect(on_event=monitor, on_interrupt=monitor.interrupt)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from typing import Self, TextIO

from purelink.execution.keys import KeyReader
from purelink.execution.progress import RunProgress
from purelink.runtime.summary import mode_words
from purelink.secrets.redact import redact

BAR_WIDTH = 30
HELP = "Press 'q' to stop | 'p' to pause | 'd' for debug"


class ConsoleMonitor:
    """Consumes a run's events (a callable, from any thread); `attach(run)` wires the keys."""

    def __init__(self, out: TextIO | None = None, every_s: float = 5.0, *, title: str = "",
                 previous_records: int | None = None, keys: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self.tty = _isatty(self.out)
        self.every_s = every_s
        self.title = title
        self.progress = RunProgress(previous_records=previous_records)
        self.recent: deque[dict] = deque(maxlen=12)
        self.debug = False
        self.run = None
        self.resume_hint: str | None = None
        self._keys_from = keys
        self._keys: KeyReader | None = None
        self._live = None
        self._lock = threading.RLock()
        self._last = 0.0
        self._said: set[tuple] = set()
        self._notes: deque[str] = deque(maxlen=5)

    # -- wiring -------------------------------------------------------------------------------------
    def attach(self, run, resume_hint: str | None = None) -> None:
        """Let the keys act on `run` (anything with stop(), pause(), resume())."""
        self.run = run
        self.resume_hint = resume_hint
        if self.tty and self._keys is None:
            self._keys = KeyReader(self.key, self._keys_from).start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Put the terminal back: keys off, the box's last state left on screen."""
        if self._keys is not None:
            self._keys.restore()
            self._keys = None
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None

    # -- keys ---------------------------------------------------------------------------------------
    def key(self, char: str) -> None:
        char = char.lower()
        if char == "q":
            self.stop()
        elif char == "p":
            self.toggle_pause()
        elif char == "d":
            self.debug = not self.debug
        self._refresh()

    def stop(self) -> None:
        run = self.run
        if run is None or self.progress.done or self.progress.status == "stopping":
            return
        paused = self.progress.status == "paused"
        self.progress.stopping()
        self._note("stopping: what it committed is kept, and the next run goes on from there")

        def _stop() -> None:
            if paused:  # a paused run must run again to hear the stop
                run.resume()
            run.stop()

        threading.Thread(target=_stop, daemon=True, name="purelink-stop").start()

    def interrupt(self) -> None:
        """Ctrl-C: the same graceful stop as 'q'."""
        self.stop()

    def toggle_pause(self) -> None:
        run = self.run
        if run is None or self.progress.done or self.progress.status == "stopping":
            return
        if self.progress.status == "paused":
            run.resume()
            self.progress.resume()
            self._note("resumed")
        else:
            run.pause()
            self.progress.pause()
            self._note("paused: no request reaches the API until 'p' is pressed again")

    # -- events -------------------------------------------------------------------------------------
    def __call__(self, event: dict) -> None:
        with self._lock:
            paused = self.progress.status == "paused"
            self.progress.apply(event)
            if paused and not self.progress.done:
                self.progress.status = "paused"  # events already on their way do not unpause
            self.recent.append(event)
            kind = event.get("event")
            if kind == "started":
                self.title = self.title or event.get("pipeline", "")
                self._print(f"run {event.get('run_id')}: {event.get('pipeline')} ({mode_words(event)}) -> "
                            f"{event.get('destination')}")
                if self.tty:
                    self._start_live()
            elif kind == "warning":
                self._print(f"warning: {event.get('message')}")
            elif kind == "error":
                # A structured cause is told once, in the summary (with what to do); a plain one
                # once per stream and message, however many windows hit it.
                key = (event.get("stream"), event.get("message"))
                if event.get("cause") is None and key not in self._said:
                    self._said.add(key)
                    where = f"{event['stream']}: " if event.get("stream") else ""
                    self._print(f"error: {where}{event.get('message')}")
            elif kind == "finished":
                if self._live is not None:
                    self._live.update(self.render(), refresh=True)
                    self._live.stop()
                    self._live = None
                else:
                    self._print(self.plain_line())
            elif not self.tty and time.monotonic() - self._last >= self.every_s:
                self._last = time.monotonic()
                self._print(self.plain_line())
        self._refresh()

    # -- drawing ------------------------------------------------------------------------------------
    def status_text(self) -> str:
        """As the model says it, except a failure's cause: the summary printed next tells it, once."""
        if self.progress.status == "failed":
            return "failed (the cause is in the summary below)"
        return self.progress.status_text(self.resume_hint)

    def plain_line(self) -> str:
        p = self.progress
        return (f"{self.status_text()} | {p.progress_text()} | {p.rate_text()} | "
                f"ETA {p.eta_text()} | {p.counts_text()} | Storage: {p.storage_text()}")

    def box_lines(self) -> list[str]:
        """The box's lines, as text (the rich renderable draws these)."""
        p = self.progress
        filled = round(p.fraction() * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return [f"Status: {self.status_text()}", f"Progress: {bar} {p.progress_text()}",
                f"Rate: {p.rate_text()}", f"ETA: {p.eta_text()}", p.counts_text(),
                f"Storage: {p.storage_text()}"]

    def render(self):
        from rich.console import Group
        from rich.panel import Panel
        from rich.text import Text

        colour = {"success": "green", "failed": "red", "stopped": "yellow", "paused": "yellow",
                  "stopping": "yellow"}.get(self.progress.status, "cyan")
        body = Text("\n".join(self.box_lines()))
        body.stylize(f"bold {colour}", 8, 8 + len(self.status_text()))
        parts: list = [Panel(body, title=self.title or None, title_align="left", expand=False,
                             border_style=colour)]
        if not self.progress.done:
            parts.append(Text(HELP, style="dim"))
        parts.extend(Text(n, style="yellow") for n in self._notes)
        if self.debug:
            parts.append(self._debug_panel())
        return Group(*parts)

    def _debug_panel(self):
        """The recent events whole, wrapped to the terminal's width (secrets masked). As many of the
        newest as fit under the box: a panel taller than the screen would be cut by the live view."""
        from rich.panel import Panel
        from rich.text import Text

        width, height = self._size()
        inner = max(20, width - 4)  # the panel's borders and padding
        room = max(6, height - len(self.box_lines()) - len(self._notes) - 6)
        shown: list[str] = []
        used = 0
        for event in reversed(self.recent):
            line = _whole(event)
            # Cut at the width, not at spaces: the JSON starts on the event's own line and every
            # character is kept (word wrapping would move it below and leave gaps to guess at).
            rows = [line[i:i + inner] for i in range(0, len(line), inner)]
            if shown and used + len(rows) > room:
                break
            shown.append("\n".join(rows))
            used += len(rows)
        title = "debug: recent events"
        if len(shown) < len(self.recent):
            title += f" (the newest {len(shown)} of {len(self.recent)} that fit)"
        body = Text("\n".join(reversed(shown)) or "no events yet", no_wrap=True, overflow="fold")
        return Panel(body, title=title, title_align="left", border_style="dim")

    def _size(self) -> tuple[int, int]:
        console = self._live.console if self._live is not None else None
        if console is None:
            from rich.console import Console

            console = Console(file=self.out)
        return console.width, console.height

    def _start_live(self) -> None:
        from rich.console import Console
        from rich.live import Live

        if self._live is None:
            console = Console(file=self.out, force_terminal=True)
            self._live = Live(get_renderable=self.render, console=console, refresh_per_second=4,
                              transient=False, redirect_stdout=False, redirect_stderr=False)
            self._live.start()

    def _refresh(self) -> None:
        with self._lock:
            if self._live is not None:
                self._live.refresh()

    def _note(self, text: str) -> None:
        self._notes.append(text)
        if not self.tty:
            self._print(text)

    def _print(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            self.out.write(text + "\n")
            self.out.flush()


def watch(engine, recipe, *, resume_hint: str | None = None, out: TextIO | None = None, **options):
    """Run `recipe` with the live monitor and its keys; returns the `RunResult`. The events also
    go to the workspace's log, as with `engine.execute`."""
    recipe = engine.recipe(recipe)
    with ConsoleMonitor(out=out, title=recipe.name) as monitor:
        run = engine.start(recipe, **options)
        monitor.attach(run, resume_hint=resume_hint)
        return run.collect(on_event=engine.logged(monitor), on_interrupt=monitor.interrupt)


def _whole(event: dict) -> str:
    """One event, all of it, without the run id every event repeats; secrets masked (the runtime
    masks its own, this also covers what the command registered, such as a resolved key)."""
    fields = {k: v for k, v in event.items() if k not in ("run_id", "event", "ts")}
    text = redact(json.dumps(fields, default=str, separators=(",", ":")))
    return f"{str(event.get('ts', ''))[11:23]} {event.get('event', '?'):<11} {text}"


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
