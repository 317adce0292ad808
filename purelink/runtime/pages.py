"""What an extraction keeps while it runs: per stream (`StreamRun`), per fetched page (`Page`) and
per committed page (`PageBatch`, which carries the window it advances for the `page` event)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from purelink.runtime.destinations.base import Batch
from purelink.runtime.paginators import PageError, PageRequest, dig
from purelink.runtime.records import has_path, paths
from purelink.runtime.sources.rest import Stream
from purelink.runtime.windows import Progress, Window


@dataclass
class StreamRun:
    stream: Stream
    windows: dict[str, Window] = field(default_factory=dict)
    sync_hi: int | None = None
    began: int | None = None  # when a lower-bound-only stream's sync began: its cursor stops there
    progress: Progress = field(default_factory=Progress)
    records: int = 0
    fetched: int = 0  # records read, committed or still on their way to the destination
    dead_letters: int = 0
    pages: int = 0
    windows_total: int = 0
    windows_done: int = 0
    error: str | None = None
    guidance: str | None = None
    cause: dict | None = None  # structured (purelink.runtime.causes), for the finished event
    status: str = "running"
    warned: set = field(default_factory=set)  # kinds of paging warning already given
    generation: int = 0  # `_airbyte_generation_id` of this run's rows
    refresh: str | None = None  # "full" (--full-refresh), "continued" (one an earlier run left unfinished)
    unseen: set[str] = field(default_factory=set)  # chosen fields no record of this run has had yet
    page_keys: dict[int, str] = field(default_factory=dict)  # pages read, by the hash of their keys (windows.py)
    sent: dict[str, None] = field(default_factory=dict)  # field paths of the first records, for suggestions

    def __post_init__(self) -> None:
        self.unseen = set(self.stream.columns or ())

    def look(self, records: list) -> None:
        """Strike off the chosen fields these records have: one that no record has, in a whole
        run, is most likely misspelled (it would load as a column of NULLs, quietly)."""
        for record in records if self.unseen else ():
            self.unseen.difference_update([path for path in self.unseen if has_path(record, path)])
            if len(self.sent) < 500:  # objects that are null in one record have fields in another
                self.sent.update(dict.fromkeys(paths(record)))
            if not self.unseen:
                break

    def absent_note(self, recipe: str) -> str | None:
        """What to tell of chosen fields that no record read had, if any record was read."""
        if not self.unseen or not self.sent:
            return None
        known = sorted(self.sent)
        named = []
        for path in sorted(self.unseen):
            close = difflib.get_close_matches(path, known, n=1, cutoff=0.6)
            named.append(f"'{path}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        return (f"no record read ({self.fetched:,}) had the chosen field{'s' * (len(named) > 1)} "
                f"{', '.join(named)}: {'their columns are' if len(named) > 1 else 'its column is'} NULL. "
                f"Correct the recipe's columns: `purelink recipes new {recipe} --update --columns "
                f"{self.stream.name}:FIELD,...` (fields the API sends: {', '.join(known[:12])}"
                f"{', ...' if len(known) > 12 else ''}).")


@dataclass
class Page:
    window: Window
    request: PageRequest
    records: list[dict]
    next: PageRequest | None
    nbytes: int
    suspect_text: bool = False  # the body held bytes or escapes that may not be valid Unicode
    notes: list = field(default_factory=list)  # (kind, message) the paginator wants the user to hear
    body: object = None  # the decoded body, for what a paginator reads beside the records (a total)


@dataclass
class PageBatch(Batch):
    """A batch made of one page: the window it advances and its size on the wire, for the
    `page` event emitted once it is committed."""

    window: Window = field(kw_only=True)
    nbytes: int = 0
    repeated: int = 0  # rows the previous page already brought (a cursor resumed before them)


def tail_without_cursor(paginator: Any, key: tuple[str, ...], page: Page) -> frozenset:
    """Keys of the page's last records that lack the cursor field: the next page starts after the
    last record that has one, so it brings these again (and they are counted once)."""
    field = getattr(paginator, "cursor_field", None)
    if page.next is None or not key or not field or not paginator.keyed_by_record:
        return frozenset()
    tail = []
    for record in reversed(page.records):
        if isinstance(record, dict) and dig(record, field) not in (None, ""):
            break
        if isinstance(record, dict):
            tail.append(tuple(record.get(k) for k in key))
    return frozenset(tail)


def records_of(response: Any, body: Any, path: str | None) -> list:
    """The page's list of records at `path`. An API answering an empty range with `null` there
    (`{"data": null}`) or with 204 No Content has none; a body without the field is no page."""
    records = dig(body, path)
    if isinstance(records, list):
        return records
    if (records is None and path and has_path(body, path)) or (body is None and response.status_code == 204):
        return []
    raise PageError(f"the page has no list of records at {path or 'the top level'!r}", str(response.url))
