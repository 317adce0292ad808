"""The live monitor of a run: what the runtime's events say, as widgets or as text.

`RunState` folds the event stream into what a person reads (status, records, progress, rate
against the limit, ETA, storage, warnings, errors). `LiveMonitor` shows it as ipywidgets with
Stop / Pause / Debug buttons; `TextMonitor` prints it where widgets cannot render (a terminal
IPython, a notebook viewer). Both are callables that take one event, from any thread.
"""

from __future__ import annotations

import html
import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO

from purelink.execution.console import summary_text
from purelink.execution.progress import RunProgress
from purelink.runtime.summary import mode_words
from purelink.secrets.redact import redact

DONE_STATUSES = ("success", "partial", "failed", "stopped")


@dataclass
class RunState:
    """Everything the monitor shows, built only from events. The figures (progress, total, ETA,
    rate, counts, storage) come from the same model as the terminal's box."""

    title: str
    status: str = "starting"
    run_id: str = ""
    mode: str = ""
    pipeline: str = ""
    destination: str = ""
    records: int = 0
    storage_bytes: int | None = None
    windows: dict[str, tuple[int, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finished: dict | None = None
    recent: deque = field(default_factory=lambda: deque(maxlen=40))
    previous_records: int | None = None
    figures: RunProgress = field(init=False)

    def __post_init__(self) -> None:
        self.figures = RunProgress(previous_records=self.previous_records)

    def apply(self, event: dict) -> None:
        self.recent.append(event)
        self.figures.apply(event)
        kind = event.get("event")
        if kind == "started":
            self.status = "running" if self.status == "starting" else self.status
            self.run_id = event.get("run_id", "")
            self.mode = mode_words(event)
            self.pipeline = event.get("pipeline", "")
            self.destination = event.get("destination", "")
        elif kind == "window_done":
            self.windows[event.get("stream", "")] = (event.get("windows_done", 0), event.get("windows_total", 0))
        elif kind == "warning":
            self.warnings.append(_where(event) + event.get("message", ""))
        elif kind == "error":
            # Told once: a dead API fails every window alike. With a structured cause, what to do
            # comes with it (the summary adds what was committed).
            text = _where(event) + event.get("message", "")
            guidance = (event.get("cause") or {}).get("guidance") or event.get("guidance")
            if guidance:
                text += f" — {guidance}"
            if text not in self.errors:
                self.errors.append(text)
        elif kind == "finished":
            self.finished = event
            self.status = event.get("status", "failed")
            self.destination = event.get("destination") or self.destination
        self.records = self.figures.records
        self.storage_bytes = self.figures.storage_bytes

    def pause(self) -> None:
        self.figures.pause()
        self.status = "paused"

    def resume(self) -> None:
        self.figures.resume()
        self.status = "running"

    @property
    def progress(self) -> float | None:
        """The share shown: it never goes back (None before anything says how far the run is)."""
        shown = self.figures.fraction()
        return shown if shown or self.done or self.figures.total()[0] else None

    @property
    def eta_s(self) -> float | None:
        return self.figures.eta_s()

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES

    @property
    def resume_hint(self) -> str:
        return f"%purelink run {self.pipeline}" if self.pipeline else "%purelink run NAME"

    def windows_text(self) -> str:
        done = sum(d for d, _ in self.windows.values())
        total = sum(t for _, t in self.windows.values())
        return f"{done} of {total} time windows" if total else ""

    def progress_text(self) -> str:
        return self.figures.progress_text()

    def rate_text(self) -> str:
        return self.figures.rate_text()

    def eta_text(self) -> str:
        if self.status == "paused":
            return "paused"
        if self.done:
            return "done" if self.status == "success" else "-"
        return self.figures.eta_text()

    def counts_text(self) -> str:
        return self.figures.counts_text()

    def storage_text(self) -> str:
        self.figures.location = self.destination or self.figures.location
        return self.figures.storage_text()

    def shown_status(self) -> str:
        """While it runs: running, paused, stopping; at the end "done", "failed: cause" or
        "stopped: resume with %purelink run NAME"."""
        if not self.done:
            waiting = self.figures.waiting if self.status == "running" else None
            return f"{self.status}, {waiting}" if waiting else self.status
        if self.finished is None:
            self.figures.status = self.status
        return self.figures.status_text(self.resume_hint)

    def line(self) -> str:
        """One status line, for text output."""
        return (f"{self.title}: {self.shown_status()}, {self.progress_text()}, {self.rate_text()}, "
                f"ETA {self.eta_text()}, {self.counts_text()}")


def _where(event: dict) -> str:
    return f"{event['stream']}: " if event.get("stream") else ""


def summary_html(finished: dict) -> str:
    """The completion summary as HTML (the same facts as `purelink.execution.console.summary_text`)."""
    return ("<div class='purelink-summary'><b>Run summary</b><pre style='margin:4px 0; white-space:pre-wrap; word-break:normal; overflow-wrap:break-word'>"
            + html.escape(summary_text(finished)) + "</pre></div>")


class TextMonitor:
    """Prints a status line every few seconds, warnings and errors as they come, then the summary."""

    def __init__(self, title: str, out: TextIO | None = None, every_s: float = 5.0) -> None:
        self.state = RunState(title)
        self.out = out or sys.stdout
        self.every_s = every_s
        self._last = 0.0
        self._errors_told = 0
        self._lock = threading.Lock()
        self.handle = None

    def attach(self, handle) -> None:
        self.handle = handle

    def __call__(self, event: dict) -> None:
        with self._lock:
            self.state.apply(event)
            kind = event.get("event")
            if kind == "started":
                self._print(f"{self.state.title}: run {self.state.run_id} ({self.state.mode}) "
                            f"-> {self.state.destination}")
            elif kind == "warning":
                self._print("warning: " + self.state.warnings[-1])
            elif kind == "error" and len(self.state.errors) > self._errors_told:
                self._errors_told = len(self.state.errors)
                self._print("error: " + self.state.errors[-1])
            elif kind in ("page", "heartbeat", "window_done") and time.monotonic() - self._last >= self.every_s:
                self._last = time.monotonic()
                self._print(self.state.line())

    def finish(self, finished: dict | None = None) -> None:
        if finished is not None and self.state.finished is None:
            self.state.apply({"event": "finished", **finished})
        self._print(summary_text(self.state.finished or {"status": self.state.status}))

    def note(self, text: str) -> None:
        self._print(text)

    def stop(self) -> None:
        if self.handle is not None and not self.state.done:
            self.state.status = "stopping"
            threading.Thread(target=self.handle.stop, daemon=True, name="purelink-stop").start()

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)


class LiveMonitor:
    """The run as widgets: status, progress bar, figures, warnings and errors, Stop / Pause / Debug.

    Call it with each event (from any thread); widget updates are throttled to a few per second,
    and `finish()` shows the completion summary. `attach(handle)` wires the buttons to a run.
    """

    def __init__(self, title: str, *, every_s: float = 0.25) -> None:
        import ipywidgets as w

        self.state = RunState(title)
        self.every_s = every_s
        self.handle = None
        self._lock = threading.Lock()
        self._last = 0.0
        self._paused = False
        self.header = w.HTML()
        self.bar = w.IntProgress(value=0, min=0, max=100, description="0%", bar_style="info",
                                 layout=w.Layout(width="420px"))
        self.figures = w.HTML()
        self.notes = w.HTML()
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger", disabled=True,
                                    tooltip="Stop the run; what it committed is kept, and the next run goes on from there")
        self.pause_button = w.Button(description="Pause", icon="pause", button_style="warning", disabled=True,
                                     tooltip="Pause or resume the run")
        self.debug_button = w.ToggleButton(description="Debug", icon="bug", value=False,
                                           tooltip="Show the latest events and the run's output")
        self.debug = w.HTML(layout=w.Layout(display="none"))
        self.summary = w.HTML()
        self.stop_button.on_click(lambda _: self.stop())
        self.pause_button.on_click(lambda _: self.toggle_pause())
        self.debug_button.observe(lambda change: self._show_debug(change["new"]), names="value")
        buttons = w.HBox([self.stop_button, self.pause_button, self.debug_button])
        self.widget = w.VBox([self.header, self.bar, self.figures, buttons, self.notes, self.debug,
                              self.summary], layout=w.Layout(padding="4px"))
        self.widget.add_class("purelink-monitor")
        self._render()

    # -- the run ---------------------------------------------------------------------------------
    def attach(self, handle) -> None:
        """Wire Stop and Pause to a run handle (`stop()`, `pause()`, `resume()`)."""
        self.handle = handle
        self.stop_button.disabled = False
        self.pause_button.disabled = False
        self._render()

    def stop(self) -> None:
        handle = self.handle
        if handle is None or self.state.done:
            return
        self.state.status = "stopping"
        self.stop_button.disabled = self.pause_button.disabled = True

        def _stop() -> None:
            if self._paused:  # a stopped process only sees SIGTERM once it runs again
                handle.resume()
            handle.stop()

        threading.Thread(target=_stop, daemon=True, name="purelink-stop").start()
        self._render()

    def toggle_pause(self) -> None:
        handle = self.handle
        if handle is None or self.state.done:
            return
        if self._paused:
            handle.resume()
            self._paused = False
            self.state.resume()
            self.pause_button.description, self.pause_button.icon = "Pause", "pause"
        else:
            handle.pause()
            self._paused = True
            self.state.pause()
            self.pause_button.description, self.pause_button.icon = "Resume", "play"
        self._render()

    def __call__(self, event: dict) -> None:
        with self._lock:
            self.state.apply(event)
            urgent = event.get("event") in ("started", "warning", "error", "finished")
            if urgent or time.monotonic() - self._last >= self.every_s:
                self._last = time.monotonic()
                self._render()

    def finish(self, finished: dict | None = None) -> None:
        """The run is over: final figures, buttons off, the completion summary."""
        with self._lock:
            if finished is not None and self.state.finished is None:
                self.state.apply({"event": "finished", **finished})
            if not self.state.done:
                self.state.status = "failed"
            self.stop_button.disabled = self.pause_button.disabled = True
            self._render()
            self.summary.value = summary_html(self.state.finished or {"status": self.state.status})

    def note(self, text: str) -> None:
        """A line under the figures (the executor's warning, for example)."""
        self.notes.value += f"<div class='purelink-note'>{html.escape(text)}</div>"

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        text = self.state.line()
        if self.state.done:
            text += "\n" + summary_text(self.state.finished or {"status": self.state.status})
        bundle["text/plain"] = text
        return bundle

    # -- drawing ----------------------------------------------------------------------------------
    def _render(self) -> None:
        s = self.state
        rejected = bool(s.finished and s.finished.get("dead_letters"))
        colour = {"success": "#ef6c00" if rejected else "#2e7d32", "failed": "#c62828", "stopped": "#ef6c00",
                  "paused": "#ef6c00", "stopping": "#ef6c00"}.get(s.status, "#1565c0")
        run = f" · run {html.escape(s.run_id)}" if s.run_id else ""
        mode = f" · {html.escape(s.mode)}" if s.mode else ""
        self.header.value = (f"<b>{html.escape(s.title)}</b>{run}{mode} · status: "
                             f"<b class='purelink-status' style='color:{colour}'>{html.escape(s.shown_status())}</b>")
        if s.progress is not None:  # the model's share: it never goes back
            self.bar.value = max(self.bar.value, min(100, round(s.progress * 100)))
            self.bar.description = f"{self.bar.value}%"
        self.bar.bar_style = {"success": "warning" if rejected else "success", "failed": "danger",
                              "stopped": "warning"}.get(s.status, "info")
        windows = s.windows_text()
        done, rest = f"{s.records:,}", s.progress_text()
        rest = rest[len(done):] if rest.startswith(done) else " " + rest
        rows = [("progress", f"<span class='purelink-progress'><span class='purelink-records'>{done}</span>"
                 f"{html.escape(rest)}</span>"
                 + (f" ({windows})" if windows else "")),
                ("rate", f"<span class='purelink-rate'>{html.escape(s.rate_text())}</span>"),
                ("ETA", f"<span class='purelink-eta'>{html.escape(s.eta_text())}</span>"),
                ("problems", f"<span class='purelink-counts'>{html.escape(s.counts_text())}</span>"),
                ("storage", f"<span class='purelink-storage'>{html.escape(s.storage_text())}</span>")]
        cells = "".join(f"<tr><td style='padding-right:12px;color:#666'>{k}</td><td>{v}</td></tr>" for k, v in rows)
        problems = "".join(f"<li style='color:#c62828'>{html.escape(e)}</li>" for e in s.errors[-10:])
        problems += "".join(f"<li style='color:#ef6c00'>{html.escape(m)}</li>" for m in s.warnings[-10:])
        self.figures.value = f"<table>{cells}</table>" + (f"<ul>{problems}</ul>" if problems else "")
        if self.debug_button.value:
            self._fill_debug()

    def _show_debug(self, show: bool) -> None:
        self.debug.layout.display = "block" if show else "none"
        if show:
            self._fill_debug()

    def _fill_debug(self) -> None:
        lines = [json.dumps(e, default=str) for e in list(self.state.recent)[-20:]]
        output = list(self.handle.output if self.handle is not None else [])[-20:]
        text = redact("\n".join(lines + ([""] + ["-- output --"] + output if output else [])))
        self.debug.value = ("<pre style='max-height:240px;overflow:auto;font-size:11px'>"
                            + html.escape(text) + "</pre>")
