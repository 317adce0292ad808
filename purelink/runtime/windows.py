"""Time windows: how a stream's range is cut, saved, resumed, split, and measured for progress.

A sync of a time-filtered stream covers [lo, hi) in unix seconds. It is cut into windows that
are paged concurrently. Each window's next request is saved with the rows it produced, so a
killed run resumes each window exactly where its last committed page ended.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.paginators import PageError, PageRequest
from purelink.runtime.records import key_of

DEFAULT_START = "2010-01-01"  # history start when a recipe gives none


@dataclass
class TimeFilter:
    """How a stream is filtered by time: the record field and the request parameters.

    `lt` may be None for APIs with only a lower bound (`updated_at_min`): such a stream is read
    as one window and its cursor is the newest value seen. `order` is the API's sort order.
    `template` names a parameter whose text carries the bounds itself, as `{gte}` / `{lt}`
    (Salesforce's SOQL `q`: `... WHERE SystemModstamp >= {gte} ORDER BY SystemModstamp`).
    """

    field: str = "created"
    gte: str | None = "created[gte]"
    lt: str | None = "created[lt]"
    format: str = "unix"  # or "iso"
    order: str = "desc"
    template: str | None = None

    def apply(self, params: dict[str, Any], lo: int | None, hi: int | None) -> dict[str, Any]:
        """The request parameters for the range [lo, hi)."""
        params = dict(params)
        if lo is not None and self.gte:
            params[self.gte] = self.encode(lo)
        if hi is not None and self.lt:
            params[self.lt] = self.encode(hi)
        if self.template and isinstance(params.get(self.template), str):
            text = params[self.template]
            for name, bound in (("{gte}", lo), ("{lt}", hi)):
                if name in text and bound is not None:
                    text = text.replace(name, str(self.encode(bound)))
            params[self.template] = text
        return params

    def encode(self, seconds: int) -> int | str:
        if self.format == "unix":
            return int(seconds)
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def decode(self, value: Any) -> int | None:
        return to_unix(value)


def history_start(stream: str, start: Any) -> int:
    """Unix seconds a first sync of `stream` starts from: its `start`, or DEFAULT_START."""
    seconds = to_unix(start or DEFAULT_START)
    if seconds is None:
        raise RuntimeFailure(f"Stream {stream}: the history start {start!r} is not a date.",
                             "Write it as an ISO date (2024-01-01), an ISO timestamp or Unix seconds.")
    return seconds


YEAR_S = 366 * 86400
EMPTY_RUN = 25  # empty pages in a row that each name a next page: paging that never ends (an API that always says more)


def to_unix(value: Any) -> int | None:
    """Unix seconds from an int, a float, an ISO timestamp or an ISO date."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, datetime):
        return int(value.replace(tzinfo=value.tzinfo or UTC).timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)  # 3.11 reads the Z suffix
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


@dataclass
class Window:
    stream: str
    lo: int | None
    hi: int | None
    next: PageRequest | None = None  # None: not started yet
    position: int | None = None  # oldest time reached so far (newest-first paging)
    max_cursor: int | None = None  # newest record time seen (for lower-bound-only filters)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    pages: int = 0
    density: float | None = None  # records per second of the range, from the last page
    first_density: float | None = None  # the same from its first page: how dense the range is at `hi`
    closed: bool = False  # its last page is in a batch: the stream's cursor may advance once all are
    # Keys of the last page's trailing records without a cursor: the next page reads them again
    # (see CursorPagination.next), and the records figure counts them once.
    repeat_keys: frozenset = frozenset()
    # The requests this run made in the window. A next page the run already asked for, or a page
    # holding the very records of an earlier one (see `advance`), means the API's paging goes round
    # (a stuck cursor, a link back, a page number or offset it ignores, a redirect that drops the
    # query): without a stop, the run would never end, or end with the records it skipped unread.
    requested: set = field(default_factory=set, repr=False)
    empty_retries: int = 0
    until: int | None = None  # a range of a numbered list: where the list ended when its pages were counted
    empty_run: int = 0  # empty pages in a row, each with a next page
    resumed: bool = False  # its next request is where an earlier run stopped

    @property
    def key(self) -> str:
        return f"window:{self.id}"

    def advance(self, page: Any, key: tuple[str, ...], ranged: bool, pages: dict[int, str]) -> None:
        """Move on from the page read to the next; a PageError when paging goes round. `ranged`:
        this window is one of the ranges a numbered list was cut into, whose pages all exist;
        `pages`: the stream's pages read so far in this run, by the keys they held."""
        request, nxt, records = page.request, page.next, page.records
        if ranged and not records and self.hi is not None and any(k == "empty" for k, _ in page.notes):
            # An empty page inside a range while the API says more: the next range starts further
            # on, so ending here would leave a gap. A glitch until it comes twice more.
            if self.empty_retries >= 2:
                raise PageError(f"pages inside the list came back empty {self.empty_retries + 1} times while the "
                                "API said more would come: the records from here to the next range were not "
                                "served (a re-run reads them again from here)", _described(request))
            self.empty_retries += 1
            page.next = self.next = request
            page.notes[:] = [(k, m) for k, m in page.notes if k != "empty"]
            return
        self.empty_run = 0 if records or nxt is None else self.empty_run + 1
        if self.empty_run >= EMPTY_RUN:
            raise PageError(f"the API answered {self.empty_run} empty pages in a row, each with a next page: "
                            "stopped there, as its paging may never end", _described(request))
        self.requested.add(_fingerprint(request))
        keys = frozenset(key_of(r, key) for r in records if isinstance(r, dict)) if key else frozenset()
        here = _described(request) if keys else ""
        if keys and (earlier := pages.setdefault(hash(keys), here)) != here:
            raise PageError(f"the API answered with the same {len(keys)} record(s) as an earlier page ({earlier}), "
                            "so it ignored where to go on from: paging stopped, since the records it skipped "
                            "cannot be read this way", _described(request))
        if nxt is not None and _fingerprint(nxt) in self.requested:
            raise PageError("the API's next page is one this run already read: its paging goes round in a "
                            "circle, so it stopped here", _described(nxt))
        self.next = nxt

    def next_in_list(self, paginator, request: PageRequest, records: list, nxt: PageRequest | None,
                     notes: list) -> PageRequest | None:
        """The page after `request` in one of the ranges a numbered list was cut into: none at the
        range's end (there the next range begins). A page holding records that says the list ends
        short of where its count put the end when the ranges were cut is not believed (a stale
        count, a cache: ending there left the rest unread); pages past a real end come back empty."""
        end = self.hi if self.hi is not None else self.until
        if nxt is None and records and end is not None:
            at = paginator.position(request)
            following = paginator.at(request, at + paginator.step(request, records))
            if paginator.position(following) < end:
                said = (f"a page ({paginator.position_param}={at}) said the list ended, though its count put the end "
                        f"at {end}: reading on while pages hold records")
                notes.append(("ended early", said))
                nxt = following
        if nxt is not None and self.hi is not None and paginator.position(nxt) >= self.hi:
            return None
        return nxt

    def to_state(self) -> dict:
        return {"lo": self.lo, "hi": self.hi, "position": self.position, "max_cursor": self.max_cursor,
                "next": self.next.to_state() if self.next else None,
                **({"until": self.until} if self.until is not None else {})}

    @classmethod
    def from_state(cls, stream: str, key: str, state: dict) -> Window:
        nxt = state.get("next")
        return cls(stream=stream, lo=state.get("lo"), hi=state.get("hi"), position=state.get("position"),
                   max_cursor=state.get("max_cursor"), id=key.split(":", 1)[1],
                   next=PageRequest.from_state(nxt) if nxt else None, until=state.get("until"), resumed=bool(nxt))

    def read(self, times: list[int]) -> int:
        """A page of records at `times` (unix seconds, newest first paging) was read: move the
        window's position, cursor and densities; returns the seconds of its range it covered."""
        oldest, newest = min(times), max(times)
        if self.hi is not None and oldest > self.hi + YEAR_S:
            # Every record lies far past the range asked for: the API does not filter by this
            # field in these units (milliseconds read as seconds), and cutting the window by such
            # times would ask for the same records again and again, never to end.
            raise RuntimeFailure(
                f"The API answered a request for records before {self.hi} (Unix seconds) with records whose time "
                f"field reads {oldest} to {newest}: far later, so the field is not in the units the connector "
                "says, or the API ignores the time filter.",
                "A time filter works in Unix seconds or ISO times (time_filter.format in the connector); for "
                "an API whose times are in milliseconds, drop the stream's time_filter (it is then read whole "
                "on every run) and run again.")
        top = self.position if self.position is not None else self.hi
        covered = max(0, top - max(oldest, self.lo)) if top is not None and self.lo is not None else 0
        self.position = oldest
        self.max_cursor = max(newest, self.max_cursor or newest)
        self.density = len(times) / max(1, newest - oldest)
        if self.first_density is None:
            self.first_density = self.density
        return covered

    def remaining(self) -> int:
        if self.lo is None or self.hi is None:
            return 0
        top = self.position if self.position is not None else self.hi
        return max(0, top - self.lo)


def cut(stream: str, lo: int, hi: int, parts: int) -> list[Window]:
    """[lo, hi) in `parts` windows of equal span, newest first."""
    parts = max(1, min(parts, hi - lo))
    step = (hi - lo) / parts
    edges = [lo + round(step * i) for i in range(parts)] + [hi]
    windows = [Window(stream, edges[i], edges[i + 1]) for i in range(parts) if edges[i + 1] > edges[i]]
    return list(reversed(windows))


def ranges(first: int, end: int, step: int, parts: int) -> list[tuple[int, int | None]]:
    """The positions [first, end) of a numbered list (pages or offsets, `step` apart) in at most
    `parts` ranges of whole pages; the last range is open (None): it follows the API's signals
    past `end`, should the list have grown since its total was read."""
    pages = max(0, -(-(end - first) // step))
    parts = max(1, min(parts, pages))
    edges = [first + step * (pages * i // parts) for i in range(parts)]
    return [(lo, hi) for lo, hi in zip(edges, [*edges[1:], None])]


@dataclass
class Progress:
    """Share of a stream's time range covered, from window positions."""

    total: int = 0
    covered: int = 0

    def fraction(self) -> float | None:
        if self.total <= 0:
            return None
        return min(1.0, self.covered / self.total)


def _fingerprint(request: PageRequest) -> tuple:
    return request.url, tuple(sorted((str(k), str(v)) for k, v in request.params.items()))


def _described(request: PageRequest) -> str:
    query = "&".join(f"{k}={v}" for k, v in request.params.items())
    return request.url + (("&" if "?" in request.url else "?") + query if query else "")
