"""Showing a run in a terminal: the live monitor (in `terminal.py`), then the completion summary
(`purelink.runtime.summary`, shared with a module run by hand)."""

from __future__ import annotations

from purelink.execution.terminal import ConsoleMonitor
from purelink.runtime.summary import cause_lines, human_bytes, stopped_lines, summary_text

__all__ = ["EXIT_STOPPED", "ConsoleMonitor", "cause_lines", "human_bytes", "stopped_lines", "summary_text"]

# A run the user stopped ('q', Ctrl-C) exits as an interrupted command does (128 + SIGINT): not 0,
# so a script does not take the partial load for a complete one, and not 1, which means it failed.
EXIT_STOPPED = 130
