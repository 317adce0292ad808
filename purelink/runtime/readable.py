"""A run as a person at a terminal reads it: the same events, as lines of text.

A module started by hand in a terminal (`python pipelines/NAME.py`) prints these instead of
JSON lines:

    stripe_customers v1: stripe (customers) -> data/purelink.duckdb
    run 4d76d10f18194d8a (incremental); Ctrl-C stops it and keeps what it committed
        2 s  1,200 records of about 3,400, 25 requests/s
    cannot connect to http://127.0.0.1:8765 (connection refused): retrying in 1 s (attempt 1 of 3)
    warning: ...

    status:      success
    records:     3,421 loaded, 0 rejected (100.0% passed validation)
    ...

Progress goes out every few seconds, not once per page. Only a terminal gets this (see
`entry.wants_text`): a pipe or a file gets the JSON lines, which the `purelink` command, the
runners and the notebook read. Everything written is masked, as the JSON is.
"""

from __future__ import annotations

import time
from typing import IO

from purelink.runtime.events import EventWriter
from purelink.runtime.expected import Expected, rounded
from purelink.runtime.summary import mode_words, summary_text


class ReadableEvents(EventWriter):
    """Writes each event as a person reads it; the figures it shows come only from the events."""

    def __init__(self, run_id: str, stream: IO[str] | None = None, redact=None, on_lost=None, *,
                 every_s: float = 5.0, first_s: float = 2.0, resume_hint: str | None = None) -> None:
        super().__init__(run_id, stream, redact=redact, on_lost=on_lost)
        self.every_s = every_s
        self.resume_hint = resume_hint
        self._began = time.monotonic()
        self._due = self._began + first_s  # a first sign of life soon, then every `every_s`
        self._expected = Expected()  # the same "about N" as the monitors show
        self._figures: dict = {}
        self._shown_records = 0
        self._said: set = set()

    def render(self, event: dict) -> str:
        kind = event.get("event")
        self._expected.apply(event)
        if kind == "started":
            return self._started(event)
        if kind in ("page", "heartbeat"):
            self._count(event)
            return self._progress()
        if kind == "warning":
            return self._once(("warning", event.get("message")), f"warning: {event.get('message')}")
        if kind == "error":
            # As the purelink command's monitor does: a structured cause is told once, in the summary
            # with what to do; a stream's failure is said when it happens (the others go on).
            stream, message = event.get("stream"), event.get("message")
            if event.get("cause") is not None:
                return self._once(("failed", stream), f"{stream} failed; the summary at the end says why "
                                  "and what to do" if stream else "")
            return self._once(("error", stream, message), f"{stream} failed: {message}" if stream
                              else f"error: {message}")
        if kind == "finished":
            return "\n" + summary_text(event, resume_hint=self.resume_hint if event.get("status") == "stopped"
                                       else None)
        return ""

    def note(self, text: str, key: str | None = None) -> None:
        """Shown once per `key` (the same retry told by several workers is one line)."""
        with self._lock:
            self._write(self._once(("note", key or text), text))

    # -- the lines --------------------------------------------------------------------------------
    def _started(self, event: dict) -> str:
        version = f" v{event['version']}" if event.get("version") else ""
        streams = ", ".join(event.get("streams") or [])
        mode = mode_words(event)
        return (f"{event.get('pipeline')}{version}: {event.get('source')} ({streams}) -> "
                f"{event.get('destination')}\n"
                f"run {self.run_id} ({mode}); Ctrl-C stops it and keeps what it committed")

    def _count(self, event: dict) -> None:
        for key in ("request_rate", "records_per_s", "retries"):
            if event.get(key) is not None:
                self._figures[key] = event[key]

    def _progress(self) -> str:
        now = time.monotonic()
        streams = {name: s.records for name, s in self._expected.streams.items()}
        total = sum(streams.values())
        if now < self._due or total == self._shown_records:
            return ""  # not yet, or nothing moved (a retry or a rate limit says so itself)
        self._due, self._shown_records = now + self.every_s, total
        head = f"{total:,} records"
        expected, estimated = self._expected.total(total)
        if expected is not None:
            head += f" of about {rounded(expected):,}" if estimated else f" of {expected:,}"
        if len(streams) > 1:
            head += " (" + ", ".join(f"{n} {c:,}" for n, c in streams.items()) + ")"
        parts = [head]
        if self._figures.get("request_rate"):
            parts.append(f"{self._figures['request_rate']:.0f} requests/s")
        elif self._figures.get("records_per_s"):
            parts.append(f"{self._figures['records_per_s']:,.0f} records/s")
        if self._figures.get("retries"):
            parts.append(f"{self._figures['retries']:,} retried")
        return f"{seconds(now - self._began):>7}  " + ", ".join(parts)

    def _once(self, key: tuple, text: str) -> str:
        if key in self._said:
            return ""
        self._said.add(key)
        return text


def seconds(s: float) -> str:
    s = max(0, round(s))
    return f"{s} s" if s < 120 else f"{s // 60} min {s % 60:02d} s"
