"""Single keys read from the terminal while a run goes ('q', 'p', 'd'), without Enter.

The terminal is put in cbreak mode (keys arrive one by one, unechoed; Ctrl-C still interrupts)
and put back as it was on every way out: the normal end, an exception, Ctrl-C, and, as a last
resort, the interpreter's exit. Without a terminal on stdin (pipes, CI) nothing is read.
"""

from __future__ import annotations

import atexit
import logging
import os
import select
import sys
import threading
from collections.abc import Callable
from typing import Self, TextIO

log = logging.getLogger("purelink.keys")


class KeyReader:
    """`with KeyReader(on_key):` calls `on_key(char)` from a helper thread for each key pressed."""

    def __init__(self, on_key: Callable[[str], None], stream: TextIO | None = None) -> None:
        self.on_key = on_key
        self.stream = stream or sys.stdin
        self._saved = None
        self._fd: int | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._saved is not None

    def start(self) -> KeyReader:
        try:
            if not self.stream.isatty():
                return self
            import termios
            import tty

            self._fd = self.stream.fileno()
            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
        except (OSError, ValueError, ImportError, AttributeError):  # no terminal after all: no keys
            self._saved = None
            return self
        atexit.register(self.restore)
        self._thread = threading.Thread(target=self._read, daemon=True, name="purelink-keys")
        self._thread.start()
        return self

    def _read(self) -> None:
        while not self._done.is_set():
            try:
                ready, _, _ = select.select([self._fd], [], [], 0.2)
                if not ready:
                    continue
                data = os.read(self._fd, 32)
            except (OSError, ValueError):
                return
            if not data:
                return
            for char in data.decode(errors="ignore"):
                try:
                    self.on_key(char)
                except Exception:  # a key that fails must not end the reading of keys
                    log.debug("key %r failed", char, exc_info=True)

    def restore(self) -> None:
        """Put the terminal back as it was (idempotent)."""
        self._done.set()
        saved, self._saved = self._saved, None
        if saved is not None and self._fd is not None:
            import termios

            try:
                termios.tcsetattr(self._fd, termios.TCSADRAIN, saved)
            except (OSError, ValueError):
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
        atexit.unregister(self.restore)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.restore()
