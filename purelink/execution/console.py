"""Showing a run in a terminal: a live status line, then the completion summary."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from purelink.runtime.causes import committed_text


def human_bytes(n: float | None) -> str:
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


class ConsoleMonitor:
    """Consumes events; on a TTY redraws one status line, elsewhere prints a line every few seconds."""

    def __init__(self, out: TextIO | None = None, every_s: float = 5.0) -> None:
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.every_s = every_s
        self._last = 0.0
        self.records = 0
        self._said: set[tuple] = set()

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "started":
            self._line(f"run {event['run_id']}: {event['pipeline']} ({event['mode']}) -> {event['destination']}",
                       final=True)
        elif kind in ("page", "heartbeat", "window_done"):
            if kind == "page":
                self.records = event["total_records"]
            elif kind == "heartbeat":
                self.records = event["records"]
            progress = event.get("progress")
            eta = event.get("eta_s")
            parts = [f"{self.records:,} records", f"{event.get('request_rate', 0):.0f} req/s"]
            if progress is not None:
                parts.append(f"{progress:.0%}")
            if eta is not None:
                parts.append(f"ETA {eta:.0f}s")
            self._status("  ".join(parts))
        elif kind == "warning":
            self._line(f"warning: {event['message']}", final=True)
        elif kind == "error":
            # An error with a structured cause is told once, in the summary (with what to do);
            # a plain one once per stream and message, however many windows hit it.
            key = (event.get("stream"), event.get("message"))
            if event.get("cause") is None and key not in self._said:
                self._said.add(key)
                where = f"{event['stream']}: " if event.get("stream") else ""
                self._line(f"error: {where}{event['message']}", final=True)
        elif kind == "finished":
            self._status("", force=True)

    def _status(self, text: str, force: bool = False) -> None:
        if self.tty:
            self.out.write("\r\033[K" + text)
            self.out.flush()
        elif text and (force or time.monotonic() - self._last >= self.every_s):
            self._last = time.monotonic()
            self.out.write(text + "\n")
            self.out.flush()

    def _line(self, text: str, final: bool = False) -> None:
        if self.tty:
            self.out.write("\r\033[K")
        self.out.write(text + "\n")
        self.out.flush()


def summary_text(finished: dict) -> str:
    """The completion summary a person reads."""
    status = finished.get("status", "failed")
    lines = [f"status:      {finished.get('outcome') or status}"]
    streams = finished.get("streams") or {}
    total = finished.get("records", 0)
    dead = finished.get("dead_letters", 0)
    rate = 100.0 * total / (total + dead) if (total + dead) else 100.0
    lines.append(f"records:     {total:,} loaded, {dead:,} rejected ({rate:.1f}% passed validation)")
    for name, s in streams.items():
        extra = f" - {s['error']}" if s.get("error") and not s.get("cause") else ""
        lines.append(f"  {name:<18} {s.get('records', 0):>9,}  {s.get('status', '')}{extra}")
    duration = finished.get("duration_s") or 0
    lines.append(f"duration:    {duration:.1f} s"
                 + (f" ({total / duration:,.0f} records/s)" if duration and total else ""))
    lines.append(f"requests:    {finished.get('requests', 0):,} ({finished.get('retries', 0)} retried, "
                 f"{finished.get('throttled', 0)} rate-limited)")
    lines.append(f"storage:     {finished.get('destination', '')} ({human_bytes(finished.get('storage_bytes'))})")
    if finished.get("warnings"):
        lines.append(f"warnings:    {finished['warnings']}")
    for name, s in streams.items():
        if s.get("dead_letters") and s.get("rejected_query"):
            lines.append(f"rejected:    {s['dead_letters']:,} {name} rows; see them with")
            lines.append(f"             purelink inspect --query \"{s['rejected_query']}\"")
    if finished.get("checks"):
        lines.append("checks:")
        for c in finished["checks"]:
            lines.append(f"  [{c['status']}] {c['name']}: {c['detail']}")
    if status != "success":
        lines.extend(cause_lines(finished))
    return "\n".join(lines)


def cause_lines(finished: dict) -> list[str]:
    """Each distinct cause once, with its URL, what to do, and what the run committed."""
    causes = [s["cause"] for s in (finished.get("streams") or {}).values() if s.get("cause")]
    if finished.get("cause") and finished["cause"] not in causes:
        causes.insert(0, finished["cause"])
    lines: list[str] = []
    seen: set[str] = set()
    for c in causes:
        text = c.get("message", "")
        if text in seen:
            continue
        seen.add(text)
        lines.append(f"cause:       {text}")
        if c.get("url") and c["url"] not in text:
            lines.append(f"url:         {c['url']}")
        if c.get("guidance"):
            lines.append(f"what to do:  {c['guidance']}")
    if not causes and finished.get("error"):
        lines.append(f"error:       {finished['error']}")
        if finished.get("guidance"):
            lines.append(f"what to do:  {finished['guidance']}")
    if finished.get("status") in ("failed", "stopped") and "committed" in finished:
        lines.append(f"committed:   {committed_text(finished)}")
    return lines
