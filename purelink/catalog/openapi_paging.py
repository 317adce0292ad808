"""How an endpoint pages, and how big a page may be.

The page size is the largest the API allows (the schema's `maximum`, or "max 100" in the
description), never the parameter's default: HubSpot's default of 10 made 331 requests where 34 do.
A size found nowhere is said to be a guess.
"""

from __future__ import annotations

import re
from typing import Any

from purelink.catalog.openapi_guesses import (
    BODY_CURSOR_FIELDS,
    BODY_CURSOR_PARAMS,
    HAS_MORE,
    LIMIT_PARAMS,
    NEXT_URL,
    RECORD_CURSOR_PARAMS,
    Document,
    find,
    kind,
)

MAX_WORDS = re.compile(r"(?:max(?:imum)?(?: of| is|:)?|up to|at most|between \d+ and)\s*(\d{2,5})", re.IGNORECASE)


def detect_page_size(d: Document, params: dict) -> tuple[str | None, int, float, str]:
    """(limit parameter, page size, confidence, evidence)."""
    limit = next((p for p in LIMIT_PARAMS if p in params), None)
    if limit is None:
        return None, 0, 0.9, "no page-size parameter: the API decides"
    schema = d.schema(params[limit].get("schema", {}))
    if schema.get("maximum"):
        size = int(schema["maximum"])
        return limit, min(size, 1000), 0.9, f"`{limit}` has maximum {size} in its schema"
    words = MAX_WORDS.search(str(params[limit].get("description", "")))
    if words:
        return limit, min(int(words[1]), 1000), 0.85, f"`{limit}`'s description says {words[0]!r}"
    default = schema.get("default")
    return (limit, 100, 0.5, (f"`{limit}` gives no maximum (default {default}): 100 is a guess; "
            "a larger page means fewer requests, too large is refused"))


def detect_pagination(d: Document, params: dict, body: dict, headers: set[str], text: str,
                      pk: str) -> tuple[dict, float, str]:
    """(pagination dict for the spec, confidence, evidence), the best-scoring style."""
    names = set(params)
    limit, size, _, _ = detect_page_size(d, params)
    # "" (not None) says "no such parameter": the paginators' defaults would send `limit`/`has_more`
    sized = {"limit_param": limit, "page_size": size} if limit else {"limit_param": ""}
    candidates: list[tuple[float, dict, str]] = []

    def add(conf: float, evidence: str, style: str, **options: Any) -> None:
        candidates.append((conf, {"style": style, **options}, evidence))

    has_more = find(body, d, HAS_MORE)
    more = f" and `{has_more}` in the body" if has_more else ""
    for p in (p for p in RECORD_CURSOR_PARAMS if p in names):
        add(0.9 if has_more else 0.6, f"query parameter {p}{more}", "cursor", cursor_param=p,
            cursor_field=pk, has_more_path=has_more or "", **sized)
    body_cursor = find(body, d, BODY_CURSOR_FIELDS)
    # a `page`/`offset` parameter that takes a string is an opaque token (Stripe search, Asana)
    tokens = [p for p in ("page", "offset") if p in names
              and kind(d.schema(params[p].get("schema", {}))) == "string"]
    for p in (*(p for p in BODY_CURSOR_PARAMS if p in names), *tokens):
        if body_cursor:
            add(0.85, f"query parameter {p} and `{body_cursor}` in the body", "cursor", cursor_param=p,
                cursor_field=None, cursor_path=body_cursor, has_more_path=has_more or "", **sized)
        else:
            add(0.5, f"query parameter {p}; no cursor field in the body, so the last record's {pk}", "cursor",
                cursor_param=p, cursor_field=pk, has_more_path=has_more or "", **sized)
    next_url = find(body, d, NEXT_URL)
    if next_url:
        add(0.8, f"`{next_url}` (the next page's URL) in the body", "next_url", next_url_path=next_url,
            **sized)
    if "link" in headers:
        add(0.85, "a Link response header", "link_header", **sized)
    elif re.search(r"link\b[^.]{0,30}header|rel=.?next", text, re.IGNORECASE):
        add(0.6, "the description mentions the Link header", "link_header", **sized)
    page = next((p for p in ("page", "page_number", "pageNumber", "Page") if p in names and p not in tokens),
                None)
    if page:
        total = find(body, d, ("total_pages", "totalPages", "pages", "meta.total_pages"))
        per = next((p for p in ("per_page", "page_size", "pageSize", "PageSize", "size", "limit") if p in names),
                   None)
        add(0.75 if per else 0.55, f"query parameters {page}" + (f" and {per}" if per else ""), "page_number",
            page_param=page, total_pages_path=total, **{**sized, "limit_param": per or ""})
    offset = next((p for p in ("offset", "skip", "start") if p in names and p not in tokens), None)
    if offset:
        total = find(body, d, ("total", "total_count", "totalCount", "count", "meta.total"))
        add(0.75 if limit else 0.55, f"query parameters {offset}" + (f" and {limit}" if limit else ""),
            "offset", offset_param=offset, total_path=total, **sized)
    if not candidates:
        return {"style": "single page"}, 0.4, "no pagination parameter or field found: one request per sync"
    conf, pag, ev = max(candidates, key=lambda c: c[0])
    return {k: v for k, v in pag.items() if v is not None}, conf, ev
