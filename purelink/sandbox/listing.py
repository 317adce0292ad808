"""Records kept sorted by (created, id), with their JSON encoded once, paged by bisection.

A `Table` is copy-on-write: readers take one immutable snapshot and never lock; a write (rare:
the sandbox's POST endpoints) builds new lists and swaps them in. So several sandboxes can share
one generated data set without copying it, and a page request costs two bisections and a slice.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass

Key = tuple[int, str]


@dataclass(frozen=True)
class Record:
    id: str
    created: int
    obj: dict  # never mutated once the record exists; an update makes a new Record
    body: bytes  # obj as JSON

    @property
    def key(self) -> Key:
        return (self.created, self.id)


@dataclass(frozen=True)
class View:
    """Records in ascending (created, id) order, as parallel lists for bisection."""

    keys: list[Key]
    created: list[int]
    records: list[Record]

    @classmethod
    def of(cls, records: list[Record]) -> View:
        return cls([r.key for r in records], [r.created for r in records], records)

    def page(self, *, created_gte: int | None = None, created_lte: int | None = None,
             after: Key | None = None, before: Key | None = None, limit: int = 10) -> tuple[list[Record], bool]:
        """One page newest first, and whether more records lie beyond it.

        `after` (Stripe's starting_after) keeps records older than that key, `before`
        (ending_before) records newer than it; both are sort keys, so the cursor object itself
        need not match the created filter. With `before`, the page is the one just newer than the
        cursor, and "more" means more still newer, as in Stripe.
        """
        lo = 0 if created_gte is None else bisect_left(self.created, created_gte)
        hi = len(self.records) if created_lte is None else bisect_right(self.created, created_lte)
        if after is not None:
            hi = min(hi, bisect_left(self.keys, after))
        if before is not None:
            lo = max(lo, bisect_right(self.keys, before))
        if hi <= lo:
            return [], False
        if before is not None:
            start, end = lo, min(hi, lo + limit)
            more = end < hi
        else:
            start, end = max(lo, hi - limit), hi
            more = start > lo
        return self.records[start:end][::-1], more


class Table:
    """All records of one resource type; `view()` is a consistent snapshot for one request."""

    def __init__(self, records: list[Record]) -> None:
        self._lock = threading.Lock()
        self._view = View.of(records)
        self._by_id = {r.id: r for r in records}

    def __len__(self) -> int:
        return len(self._view.records)

    def view(self) -> View:
        return self._view

    def get(self, record_id: str) -> Record | None:
        return self._by_id.get(record_id)

    def filtered(self, keep: Callable[[dict], bool]) -> View:
        return View.of([r for r in self._view.records if keep(r.obj)])

    def put(self, record: Record) -> None:
        """Insert a new record, or replace the one with the same id (whose created must not change)."""
        with self._lock:
            records = list(self._view.records)
            old = self._by_id.get(record.id)
            if old is not None:
                records[bisect_left(self._view.keys, old.key)] = record
            else:
                records.insert(bisect_right(self._view.keys, record.key), record)
            by_id = dict(self._by_id)
            by_id[record.id] = record
            self._view, self._by_id = View.of(records), by_id
