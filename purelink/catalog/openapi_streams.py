"""Which GET endpoints are streams, and what each is called.

A stream is a collection: the response is a list, or an envelope whose top level holds the list
(Stripe's `data`, HubSpot's `results`). A response that is itself a record (it has an `id`, as
Stripe's `/v1/account` and `/v1/invoices/upcoming` do) is not a stream, even if a list sits inside.
Path parameters (`/repos/{owner}/{repo}/issues`) become the connector's variables.
"""

from __future__ import annotations

import html
import re
from typing import Any

from purelink.catalog.openapi_guesses import RECORD_LISTS, Document, kind

GENERIC = {"search", "preview", "upcoming", "list", "all", "me", "lines", "items", "history", "summary"}
PAGED_BODY = {"has_more", "hasMore", "next", "next_page", "next_page_uri", "paging", "next_cursor", "cursor",
              "total", "total_count", "links", "_links"}
PAGING = {"limit", "per_page", "page_size", "pageSize", "PageSize", "page", "Page", "PageToken", "offset",
          "starting_after", "ending_before", "after", "before", "cursor", "page_token", "pageToken"}


def snake(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def plain(text: Any, limit: int = 120) -> str:
    """A description's first line without HTML tags or Markdown links."""
    text = re.sub(r"<[^>]+>", " ", str(text or ""))
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", html.unescape(text))
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return re.sub(r"\s+", " ", line)[:limit]


def records_of(d: Document, schema: Any, path: str = "") -> tuple[str, dict, dict] | None:
    """(records path, item schema, body properties) of a list response, or None. An envelope's
    list counts when its name says records (`data`, `results`), repeats the path (Twilio's
    `/Messages.json` -> `messages`), or the body carries paging fields; Stripe's balance has an
    `available` list and is one record."""
    body = d.schema(schema)
    if kind(body) == "array":
        return "", d.schema(body.get("items", {})), {}
    props = d.props(body)
    if "id" in props:  # the body is one record (Stripe's account, the upcoming invoice)
        return None
    arrays = [k for k, v in props.items()
              if kind(v) == "array" and kind(d.schema(v.get("items", {}))) in ("object", "")]
    if not arrays:
        return None
    best = min(arrays, key=lambda k: RECORD_LISTS.index(k) if k in RECORD_LISTS else 99)
    last = snake(re.sub(r"\.\w+$", "", path.rstrip("/").rsplit("/", 1)[-1]))
    paged = set(props) & PAGED_BODY
    if best not in RECORD_LISTS and snake(best) != last and not paged:
        return None
    return best, d.schema(props[best].get("items", {})), props


def is_collection_path(path: str) -> bool:
    """`/customers/{customer}` and Twilio's `/Accounts/{Sid}.json` name one object."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return not re.fullmatch(r"\{[^}]+\}(\.\w+)?", last)


def stream_name(path: str, taken: set[str]) -> str:
    """`customers`, `customers_search`, `invoices_upcoming`; never `s_0_3`."""
    parts = [snake(re.sub(r"\.\w+$", "", p)) for p in path.strip("/").split("/")
             if p and not p.startswith("{") and not re.fullmatch(r"v\d+(\.\d+)?|\d[\d-]*", p)]
    parts = [p for p in parts if p]
    name = parts[-1] if parts else "records"
    if (name in GENERIC or name in taken) and len(parts) > 1:
        name = f"{parts[-2]}_{name}"
    while name in taken:
        name += "_2"
    return name if re.match(r"^[a-z]", name) else f"stream_{name}"


def path_variables(d: Document, path: str, declared: list) -> dict[str, dict]:
    """`{owner}` -> {"description": ..., "example": ...}, for each placeholder of the path."""
    found = {}
    params = {p.get("name"): p for p in map(d.resolve, declared) if isinstance(p, dict) and p.get("in") == "path"}
    for var in re.findall(r"\{([^}]+)\}", path):
        p = params.get(var, {})
        schema = d.schema(p.get("schema", {}))
        example = p.get("example") or schema.get("example") or schema.get("default")
        found[var] = {"description": plain(p.get("description")) or f"the {var} in {path}",
                      **({"example": str(example)} if example not in (None, "") else {})}
    return found


def required_query(params: dict, d: Document) -> list[str]:
    """Required query parameters without a default, other than paging ones: a stream cannot be read
    without a value for each."""
    return [n for n, p in params.items() if p.get("required") and n not in PAGING
            and d.schema(p.get("schema", {})).get("default") is None]
