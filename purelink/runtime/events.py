"""The event stream: one JSON object per line on stdout.

Runners (local subprocess or Docker container) and the live monitor are built only from these
lines, so a pipeline looks the same wherever it runs. Kinds: started, page, window_done,
warning, error, heartbeat, finished. Every event carries `event`, `ts` and `run_id`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime
from typing import IO, Any

from purelink.runtime.net import as_written

KINDS = ("started", "page", "window_done", "warning", "error", "heartbeat", "finished")
# Seconds of requests a rate-limited source lets through at once when its connector declares no
# `rate_limit.burst_s`. The `started` event carries the one in force, for the monitor.
DEFAULT_BURST_S = 0.1


class EventWriter:
    """Writes events as JSON lines; safe to call from several worker threads. `ReadableEvents`
    (readable.py) shows the same events to a person at a terminal."""

    def __init__(self, run_id: str, stream: IO[str] | None = None, redact=None, on_lost=None) -> None:
        self.run_id = run_id
        self._out = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()
        self._redact = redact or (lambda text: text)
        self._on_lost = on_lost
        self.lost = False  # the reader is gone (its pipe closed): events go nowhere from now on

    def emit(self, kind: str, **fields: Any) -> dict:
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        event = {"event": kind, "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                 "run_id": self.run_id, **fields}
        with self._lock:
            self._write(self.render(event))
        return event

    def render(self, event: dict) -> str:
        """The text of one event, without the line's end: its JSON (a subclass shows it otherwise;
        nothing for an event it does not show)."""
        return json.dumps(event, default=str, separators=(",", ":"))

    def note(self, text: str, key: str | None = None) -> None:
        """Something a person watching should know that is not an event (a retry that is waiting).
        The JSON stream carries events only, so here it goes nowhere; `ReadableEvents` shows it."""

    def _write(self, text: str) -> None:
        """Write masked text (the caller holds the lock); a closed reader ends the writing."""
        if self.lost or not text:
            return
        try:
            self._out.write(as_written(self._redact(text)) + "\n")
            self._out.flush()
        except (BrokenPipeError, ValueError, OSError):
            # The command that started us died (kill -9): nobody reads on. The run stops
            # gracefully instead of failing on this write, so its executions row still tells
            # what was committed.
            self.lost = True
            _silence(self._out)
            if self._on_lost is not None:
                self._on_lost()


def _silence(out: IO[str]) -> None:
    """Point the dead stdout at /dev/null so the interpreter's final flush does not raise again."""
    if out is sys.stdout:
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass


def parse_event(line: str) -> dict | None:
    """The event on one output line, or None when the line is not an event (plain output)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if isinstance(event, dict) and event.get("event") in KINDS:
        return event
    return None


class Rate:
    """Counts per second over a sliding window of recent seconds."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._marks: list[tuple[float, int]] = []
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        now = time.monotonic()
        with self._lock:
            self._marks.append((now, n))
            cutoff = now - self.window_s
            while self._marks and self._marks[0][0] < cutoff:
                self._marks.pop(0)

    def per_second(self) -> float:
        now = time.monotonic()
        with self._lock:
            marks = [(t, n) for t, n in self._marks if t >= now - self.window_s]
        if not marks:
            return 0.0
        span = max(now - marks[0][0], min(self.window_s, 1.0))  # a few early requests are not a rate
        return sum(n for _, n in marks) / span
