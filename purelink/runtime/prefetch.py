"""Reading the next batch from a source while the destination writes the current one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pyarrow as pa


class Prefetch:
    """Reads the next batch from the source while the destination writes the current one.

    Both sides spend their time in C++ (the driver, DuckDB or libpq) outside the GIL, so the
    overlap is real; `depth` bounds how many batches wait, which keeps memory near one batch.
    """

    def __init__(self, items: Iterator[pa.Table], depth: int = 1) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._pump, args=(items,), daemon=True, name="purelink-read")
        self._thread.start()

    def _put(self, item: tuple) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _pump(self, items: Iterator[pa.Table]) -> None:
        try:
            for table in items:
                if not self._put(("table", table)):
                    return
            self._put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread, which raises it
            self._put(("error", exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[pa.Table]:
        try:
            while True:
                kind, value = self._queue.get()
                if kind == "table":
                    yield value
                elif kind == "end":
                    return
                else:
                    raise value
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading; returns once the reader let go of the connection (after its current batch)."""
        self._closed.set()
        self._thread.join()
