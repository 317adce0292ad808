"""The terminal monitor's debug panel ('d') shows each event whole, wrapped to the terminal's width
(never cut with an ellipsis), with secrets masked; as many of the newest as fit on the screen."""

from __future__ import annotations

import io
import json
import re
import secrets

from rich.console import Console

from purelink.execution.terminal import ConsoleMonitor
from purelink.secrets import redact


def panel_text(monitor: ConsoleMonitor, width: int = 80) -> tuple[str, str]:
    """(the panel's title line, its body with the borders taken off and the lines joined)."""
    out = io.StringIO()
    Console(file=out, width=width, height=monitor._size()[1], color_system=None).print(monitor.render())
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "debug: recent events" in line)
    body = []
    for line in lines[start + 1:]:
        if line.startswith("╰"):
            break
        body.append(line.strip().removeprefix("│").removesuffix("│").strip())
    return lines[start], " ".join(body)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_long_events_show_whole_and_wrapped_with_secrets_masked():
    key = "sk_test_" + secrets.token_hex(12)
    redact.register(key)
    try:
        monitor = ConsoleMonitor(out=io.StringIO(), title="custs")
        monitor.debug = True
        monitor({"event": "started", "run_id": "r1", "ts": "2026-01-01T10:00:00.000000+00:00",
                 "pipeline": "custs", "mode": "incremental", "destination": "data/purelink.duckdb"})
        message = ("the API answered 400 for https://api.example.test/v1/customers?key=" + key + " "
                   + "because the parameter created[gte] was refused; " * 5)
        long_event = {"event": "warning", "run_id": "r1", "ts": "2026-01-01T10:00:01.000000+00:00",
                      "stream": "customers", "message": message, "window": "0123456789ab"}
        monitor(long_event)
        title, body = panel_text(monitor)
    finally:
        redact.unregister(key)

    assert key not in body and "sk_test_****" in body
    expected = json.dumps({k: v for k, v in long_event.items() if k not in ("run_id", "event", "ts")},
                          separators=(",", ":")).replace(key, redact.mask(key))
    assert len(expected) > 300  # longer than a line: the case that was cut
    assert squeeze(expected) in squeeze(body)  # every character of it, wrapped over lines
    assert "…" not in body and "..." not in body
    assert "pipeline" in body and title.count("debug: recent events") == 1  # the older one fits too


def test_only_the_newest_events_that_fit_are_shown_and_the_title_says_so():
    monitor = ConsoleMonitor(out=io.StringIO(), title="custs")
    monitor.debug = True
    for n in range(12):
        monitor({"event": "page", "run_id": "r1", "ts": f"2026-01-01T10:00:{n:02d}.000000+00:00",
                 "stream": "customers", "records": 100, "page": n, "note": f"page-{n:02d} " + "x" * 400})
    width = monitor._size()[0]
    title, body = panel_text(monitor, width)
    assert "page-11" in body  # the newest, whole
    assert squeeze('"note":"page-11 ' + "x" * 400 + '"') in squeeze(body)
    shown = re.search(r"the newest (\d+) of 12 that fit", title)
    assert shown and 1 <= int(shown[1]) < 12
    assert f"page-{12 - int(shown[1]):02d}" in body and f"page-{11 - int(shown[1]):02d}" not in body
