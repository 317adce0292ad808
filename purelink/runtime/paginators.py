"""Pagination styles behind one small interface.

A paginator turns a response into the next `PageRequest`, or None at the end. The state of
a half-read stream is therefore just the next request (URL and parameters), which is what the
loader saves in the same transaction as the rows: resuming a crashed run means sending it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from purelink.runtime.graphql import error_messages, throttle_wait
from purelink.runtime.numbered import more_pages, number

if TYPE_CHECKING:  # annotations only: code generation reads these classes without sending requests
    import httpx


class PageError(ValueError):
    """A page whose body does not allow going on (no cursor anywhere on it). A ValueError, as a
    body that is not JSON is, for callers that sample a source and report either alike."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(f"{message} ({url})")
        self.url = url


@dataclass
class PageRequest:
    url: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_state(self) -> dict:
        return {"url": self.url, "params": self.params}

    @classmethod
    def from_state(cls, state: dict) -> PageRequest:
        return cls(url=state["url"], params=dict(state.get("params") or {}))


def dig(obj: Any, path: str | None) -> Any:
    """The value at a dotted path (`paging.next.after`); `""`/None is the object itself."""
    if not path:
        return obj
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


class Paginator:
    """Base class: `first` builds the opening request, `next` the following one or None."""

    style = "none"
    #: whether filter parameters (time windows) may change between pages without losing place
    keyed_by_record = False

    def __init__(self, *, limit_param: str | None = "limit", page_size: int = 100) -> None:
        self.limit_param = limit_param
        self.page_size = page_size

    def first(self, url: str, params: dict[str, Any], page_size: int | None = None) -> PageRequest:
        params = dict(params)
        if self.limit_param:
            params[self.limit_param] = page_size or self.page_size
        return PageRequest(url, params)

    def next(self, request: PageRequest, response: httpx.Response, body: Any,
             records: list, warn=None) -> PageRequest | None:
        """The request for the page after this one, or None at the end.

        `warn(kind, message)`, when given, hears what the user should know about the paging
        (signals that disagree); a page that cannot be continued raises `PageError`.
        """
        return None

    def fetch(self, client: Any, request: PageRequest) -> tuple[httpx.Response, Any, bool]:
        """Send one page's request through the client: (response, decoded body, suspect text)."""
        return client.get_json(request.url, request.params)

    def describe(self) -> str:
        return self.style


class SinglePage(Paginator):
    style = "single page"


class CursorPagination(Paginator):
    """A cursor taken from the last record (Stripe's `starting_after` + `has_more`) or from the
    body (HubSpot's `paging.next.after`)."""

    style = "cursor"

    def __init__(self, *, cursor_param: str = "starting_after", cursor_field: str | None = "id",
                 cursor_path: str | None = None, has_more_path: str | None = "has_more",
                 limit_param: str | None = "limit", page_size: int = 100) -> None:
        super().__init__(limit_param=limit_param, page_size=page_size)
        self.cursor_param = cursor_param
        self.cursor_field = cursor_field
        self.cursor_path = cursor_path
        self.has_more_path = has_more_path
        self.keyed_by_record = cursor_path is None

    def next(self, request, response, body, records, warn=None):
        if self.has_more_path and not dig(body, self.has_more_path):
            return None
        if self.cursor_path:
            cursor = dig(body, self.cursor_path)
            if cursor in (None, ""):
                return None
        else:
            if not records:
                return None
            # A last record without the cursor field is a gap in the data, not the end of the
            # list: resume after the last record that has one (the records after it come again
            # and merge on their key). A page where no record has one cannot be continued.
            cursor = next((c for c in (dig(r, self.cursor_field) if isinstance(r, dict) else None
                                       for r in reversed(records)) if c not in (None, "")), None)
            if cursor is None:
                raise PageError(
                    f"no record on this page has the cursor field {self.cursor_field!r}, so the next "
                    f"page cannot be asked for", str(response.url))
            last = records[-1]
            if warn is not None and (not isinstance(last, dict) or dig(last, self.cursor_field) in (None, "")):
                warn("cursor", f"a page's last record has no {self.cursor_field!r}: resuming after the last "
                               f"record that has one ({cursor})")
        return PageRequest(request.url, {**request.params, self.cursor_param: cursor})

    def describe(self) -> str:
        where = f"body {self.cursor_path}" if self.cursor_path else f"last record's {self.cursor_field}"
        return f"cursor ({self.cursor_param} from {where})"


class NextUrlPagination(Paginator):
    """The next page's URL in the body (Salesforce's `nextRecordsUrl`)."""

    style = "next_url"

    def __init__(self, *, next_url_path: str = "next", limit_param: str | None = None,
                 page_size: int = 100) -> None:
        super().__init__(limit_param=limit_param, page_size=page_size)
        self.next_url_path = next_url_path

    def next(self, request, response, body, records, warn=None):
        nxt = dig(body, self.next_url_path)
        if not nxt:
            return None
        return PageRequest(urljoin(str(response.url), nxt), {})

    def describe(self) -> str:
        return f"next URL (body {self.next_url_path})"


class LinkHeaderPagination(Paginator):
    """RFC 8288 `Link: <...>; rel="next"` (GitHub, Shopify's `page_info`)."""

    style = "link_header"

    def __init__(self, *, rel: str = "next", limit_param: str | None = "limit", page_size: int = 100) -> None:
        super().__init__(limit_param=limit_param, page_size=page_size)
        self.rel = rel

    def next(self, request, response, body, records, warn=None):
        link = response.links.get(self.rel)
        if not link or not link.get("url"):
            return None
        return PageRequest(urljoin(str(response.url), link["url"]), {})

    def describe(self) -> str:
        return f"Link header (rel={self.rel})"


class GraphQLPagination(Paginator):
    """A GraphQL connection (Shopify's Admin API): each page POSTs `query` with the request's
    params as its variables (`first`, `after`), and goes on with `pageInfo.endCursor` while
    `pageInfo.hasNextPage`. A short page is not an end. A body with `errors` (sent with HTTP 200)
    is a failed page; THROTTLED errors are waited out like a 429."""

    style = "graphql"

    def __init__(self, *, query: str, page_info_path: str, cursor_param: str = "after",
                 limit_param: str | None = "first", page_size: int = 250) -> None:
        super().__init__(limit_param=limit_param, page_size=page_size)
        self.query, self.page_info_path, self.cursor_param = query, page_info_path, cursor_param

    def fetch(self, client, request):
        response, body, suspect = client.get_json(request.url, request.params, throttled=throttle_wait,
                                                  json={"query": self.query, "variables": request.params})
        said = error_messages(body)
        if said:
            raise PageError(f"the GraphQL API answered with errors: {said}", str(response.url))
        return response, body, suspect

    def next(self, request, response, body, records, warn=None):
        info = dig(body, self.page_info_path)
        if not isinstance(info, dict):
            raise PageError(f"the page has no {self.page_info_path!r}", str(response.url))
        if not info.get("hasNextPage"):
            return None
        if not info.get("endCursor"):
            raise PageError("hasNextPage is true but endCursor is empty", str(response.url))
        return PageRequest(request.url, {**request.params, self.cursor_param: info["endCursor"]})

    def describe(self) -> str:
        return f"GraphQL ({self.cursor_param} from {self.page_info_path}.endCursor)"



class NumberedPagination(Paginator):
    """What page-number and offset paging share: reading the API's signals in a response."""

    has_more_path: str | None = None
    next_path: str | None = None

    def _signals(self, response: httpx.Response, body: Any) -> dict[str, bool]:
        signals: dict[str, bool] = {}
        if self.has_more_path:
            value = dig(body, self.has_more_path)
            if value is not None:
                signals["has_more"] = bool(value)
        if self.next_path:
            signals["next"] = bool(dig(body, self.next_path))
        if response.links:  # a Link header, when the API sends one, is a signal too
            signals["next link"] = bool(response.links.get("next", {}).get("url"))
        return signals

    #: the request parameter holding the page's position (a page number or an offset)
    @property
    def position_param(self) -> str:
        """The query parameter that says where a page starts (numbered lists only)."""
        return ""

    def position(self, request: PageRequest) -> int:
        return int(request.params.get(self.position_param, 0))

    def at(self, request: PageRequest, position: int) -> PageRequest:
        return PageRequest(request.url, {**request.params, self.position_param: position})

    def step(self, request: PageRequest, records: list) -> int:
        """How far the position moves from this page to the next."""
        return 1

    def spread(self, request: PageRequest, body: Any) -> tuple[int, int, int] | None:
        """(position of the next page, position past the last one, step) when this page tells how
        many there are, so that the rest can be fetched in parallel; None when it does not."""
        return None

    def _size(self, request: PageRequest) -> int | None:
        if not self.limit_param:
            return None
        try:
            return int(request.params.get(self.limit_param, self.page_size))
        except (TypeError, ValueError):
            return self.page_size


class PageNumberPagination(NumberedPagination):
    """`?page=N`; see `more_pages` for when it ends."""

    style = "page_number"

    def __init__(self, *, page_param: str = "page", start: int = 1, total_pages_path: str | None = None,
                 total_path: str | None = None, has_more_path: str | None = None,
                 next_path: str | None = None, limit_param: str | None = "per_page", page_size: int = 100) -> None:
        super().__init__(limit_param=limit_param, page_size=page_size)
        self.page_param = page_param
        self.start = start
        self.total_pages_path = total_pages_path
        self.total_path = total_path
        self.has_more_path = has_more_path
        self.next_path = next_path

    def first(self, url, params, page_size=None):
        request = super().first(url, params, page_size)
        request.params[self.page_param] = self.start
        return request

    def next(self, request, response, body, records, warn=None):
        page = int(request.params.get(self.page_param, self.start))
        size = self._size(request)
        pages_read = page - self.start + 1
        signals = self._signals(response, body)
        total_pages = number(dig(body, self.total_pages_path)) if self.total_pages_path else None
        if total_pages is not None:
            signals["total_pages"] = pages_read < total_pages
        total = number(dig(body, self.total_path)) if self.total_path else None
        if total is not None and size:
            signals["total"] = pages_read * size < total
        if not more_pages(signals, records, size, warn):
            return None
        return PageRequest(request.url, {**request.params, self.page_param: page + 1})

    @property
    def position_param(self) -> str:
        return self.page_param

    def spread(self, request, body):
        size = self._size(request)
        pages = number(dig(body, self.total_pages_path)) if self.total_pages_path else None
        if pages is None and self.total_path and size:
            total = number(dig(body, self.total_path))
            pages = -(-total // size) if total is not None else None
        if pages is None:
            return None
        return self.position(request) + 1, self.start + pages, 1

    def describe(self) -> str:
        return f"page number ({self.page_param})"


class OffsetPagination(NumberedPagination):
    """`?offset=N&limit=M`; see `more_pages` for when it ends."""

    style = "offset"

    def __init__(self, *, offset_param: str = "offset", total_path: str | None = None,
                 has_more_path: str | None = None, next_path: str | None = None,
                 limit_param: str | None = "limit", page_size: int = 100) -> None:
        super().__init__(limit_param=limit_param, page_size=page_size)
        self.offset_param = offset_param
        self.total_path = total_path
        self.has_more_path = has_more_path
        self.next_path = next_path

    def first(self, url, params, page_size=None):
        request = super().first(url, params, page_size)
        request.params[self.offset_param] = 0
        return request

    def next(self, request, response, body, records, warn=None):
        size = self._size(request)
        # The offset moves by the page size asked for, not the records received (a page the API
        # filtered server-side is short), except after a short FIRST page with more to come: an API
        # serving at most 25 a page would have the rest of every page skipped. Pages of 25 skip none.
        start = int(request.params.get(self.offset_param, 0))
        capped = start == 0 and size and 0 < len(records) < size and self.limit_param
        offset = start + (len(records) if capped else (size or len(records)))
        signals = self._signals(response, body)
        total = number(dig(body, self.total_path)) if self.total_path else None
        if total is not None:
            signals["total"] = offset < total
        if not more_pages(signals, records, None if capped else size, warn):
            return None
        params = {**request.params, self.offset_param: offset}
        if capped:
            params[self.limit_param] = len(records)
            if warn is not None:
                warn("capped", f"the first page held {len(records)} of {size} records, and the API says more would come: "
                     f"reading on in pages of {len(records)} (if the API serves no more a page, set the stream's "
                     f"page_size to {len(records)} in the connector)")
        return PageRequest(request.url, params)

    @property
    def position_param(self) -> str:
        return self.offset_param

    def step(self, request, records):
        return self._size(request) or len(records)

    def spread(self, request, body):
        size = self._size(request)
        total = number(dig(body, self.total_path)) if self.total_path else None
        if total is None or not size:
            return None
        return self.position(request) + size, total, size

    def describe(self) -> str:
        return f"offset ({self.offset_param})"


STYLES: dict[str, type[Paginator]] = {
    cls.style: cls for cls in (SinglePage, CursorPagination, NextUrlPagination, LinkHeaderPagination, GraphQLPagination,
                               PageNumberPagination, OffsetPagination)
}
