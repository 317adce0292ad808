"""Pagination styles behind one small interface.

A paginator turns a response into the next `PageRequest`, or None at the end. The state of
a half-read stream is therefore just the next request (URL and parameters), which is what the
loader saves in the same transaction as the rows: resuming a crashed run means sending it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx


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
             records: list) -> PageRequest | None:
        return None

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

    def next(self, request, response, body, records):
        if self.has_more_path and not dig(body, self.has_more_path):
            return None
        if self.cursor_path:
            cursor = dig(body, self.cursor_path)
        else:
            cursor = records[-1].get(self.cursor_field) if records else None
        if cursor in (None, ""):
            return None
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

    def next(self, request, response, body, records):
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

    def next(self, request, response, body, records):
        link = response.links.get(self.rel)
        if not link or not link.get("url"):
            return None
        return PageRequest(urljoin(str(response.url), link["url"]), {})

    def describe(self) -> str:
        return f"Link header (rel={self.rel})"


class PageNumberPagination(Paginator):
    """`?page=N`; ends on a short page or past `total_pages_path`."""

    style = "page_number"

    def __init__(self, *, page_param: str = "page", start: int = 1, total_pages_path: str | None = None,
                 limit_param: str | None = "per_page", page_size: int = 100) -> None:
        super().__init__(limit_param=limit_param, page_size=page_size)
        self.page_param = page_param
        self.start = start
        self.total_pages_path = total_pages_path

    def first(self, url, params, page_size=None):
        request = super().first(url, params, page_size)
        request.params[self.page_param] = self.start
        return request

    def next(self, request, response, body, records):
        page = int(request.params.get(self.page_param, self.start))
        size = int(request.params.get(self.limit_param, self.page_size)) if self.limit_param else None
        if self.total_pages_path:
            total = dig(body, self.total_pages_path)
            if total is not None and page - self.start + 1 >= int(total):
                return None
        if not records or (size and len(records) < size):
            return None
        return PageRequest(request.url, {**request.params, self.page_param: page + 1})

    def describe(self) -> str:
        return f"page number ({self.page_param})"


class OffsetPagination(Paginator):
    """`?offset=N&limit=M`; ends on a short page or at `total_path`."""

    style = "offset"

    def __init__(self, *, offset_param: str = "offset", total_path: str | None = None,
                 limit_param: str | None = "limit", page_size: int = 100) -> None:
        super().__init__(limit_param=limit_param, page_size=page_size)
        self.offset_param = offset_param
        self.total_path = total_path

    def first(self, url, params, page_size=None):
        request = super().first(url, params, page_size)
        request.params[self.offset_param] = 0
        return request

    def next(self, request, response, body, records):
        offset = int(request.params.get(self.offset_param, 0)) + len(records)
        size = int(request.params.get(self.limit_param, self.page_size)) if self.limit_param else None
        if self.total_path:
            total = dig(body, self.total_path)
            if total is not None and offset >= int(total):
                return None
        if not records or (size and len(records) < size):
            return None
        return PageRequest(request.url, {**request.params, self.offset_param: offset})

    def describe(self) -> str:
        return f"offset ({self.offset_param})"


STYLES: dict[str, type[Paginator]] = {
    cls.style: cls for cls in (SinglePage, CursorPagination, NextUrlPagination, LinkHeaderPagination,
                               PageNumberPagination, OffsetPagination)
}
