"""What an OpenAPI document says without saying it: the importer's guesses.

Each `detect_*` function returns the value for the connector spec, how sure it is (0-1) and the
evidence in words, so the user sees why (the pattern of dlt's paginator detection, without its
silent application). `Document` resolves local `$ref`s and the schema shapes asked about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RECORD_LISTS = ("data", "items", "results", "records", "entries", "values", "elements", "list", "rows")
RECORD_CURSOR_PARAMS = ("starting_after", "after_id", "since_id")
BODY_CURSOR_PARAMS = ("cursor", "after", "page_token", "pageToken", "next_token", "nextToken",
                      "continuation", "starting_token", "page_cursor", "next_cursor")
BODY_CURSOR_FIELDS = ("next_cursor", "nextCursor", "next_page_token", "nextPageToken", "cursor",
                      "paging.next.after", "meta.next_cursor", "response_metadata.next_cursor", "next_token",
                      "next_page.offset", "next_page")
HAS_MORE = ("has_more", "hasMore", "more", "has_next")
NEXT_URL = ("next", "next_url", "nextUrl", "next_page_url", "nextRecordsUrl", "next_link", "nextLink",
            "links.next", "_links.next.href", "@odata.nextLink", "paging.next", "next_page_uri")
LIMIT_PARAMS = ("limit", "per_page", "page_size", "pageSize", "PageSize", "size", "count", "max_results",
                "maxResults")
UPDATED = ("updated_at", "updated", "updatedAt", "modified_at", "modified", "last_modified", "lastModified",
           "SystemModstamp", "LastModifiedDate", "lastmodifieddate", "date_updated")
CREATED = ("created", "created_at", "createdAt", "CreatedDate", "createdate", "inserted_at", "date_created")
LOWER = ("gte", "gt", "min", "after", "since", "from", "start")
UPPER = ("lt", "lte", "max", "before", "until", "to", "end")


@dataclass(frozen=True)
class Guess:
    """One inferred value: `field` is `pagination`, `auth`, `customers.primary_key`, ..."""

    field: str
    value: Any
    confidence: float
    evidence: str

    def __str__(self) -> str:
        return f"{self.field} = {self.value!r}  ({self.confidence:.0%} sure: {self.evidence})"


class Document:
    """Local `$ref` resolution and the schema shapes the importer asks about."""

    def __init__(self, doc: dict) -> None:
        self.doc = doc
        self._refs: dict[str, Any] = {}  # a 10 MB document repeats the same few hundred $refs

    def resolve(self, node: Any) -> Any:
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref not in self._refs:
                self._refs[ref] = self._follow(node)
            return self._refs[ref]
        return node

    def _follow(self, node: Any) -> Any:
        seen: set[str] = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen or not ref.startswith("#/"):
                return {}
            seen.add(ref)
            node = self.doc
            for part in ref[2:].split("/"):
                key = part.replace("~1", "/").replace("~0", "~")
                node = node.get(key, {}) if isinstance(node, dict) else {}
        return node

    def schema(self, node: Any) -> dict:
        """A schema with `allOf` merged and a nullable `anyOf`/`oneOf` reduced to its object/array arm."""
        node = self.resolve(node)
        if not isinstance(node, dict):
            return {}
        if "allOf" in node:
            merged: dict = {"type": "object", "properties": {}, "required": []}
            for part in node["allOf"]:
                part = self.schema(part)
                merged["properties"].update(part.get("properties", {}))
                merged["required"] += part.get("required", [])
            return merged
        for key in ("anyOf", "oneOf"):
            if key in node:
                arms = [self.schema(a) for a in node[key]]
                for want in ("object", "array"):
                    for arm in arms:
                        if kind(arm) == want:
                            return arm
                return arms[0] if arms else {}
        return node

    def props(self, node: Any) -> dict[str, dict]:
        return {k: self.schema(v) for k, v in self.schema(node).get("properties", {}).items()}


def kind(schema: dict) -> str:
    t = schema.get("type")
    if isinstance(t, list):  # OpenAPI 3.1: ["string", "null"]
        t = next((x for x in t if x != "null"), None)
    return t or ("object" if "properties" in schema else "array" if "items" in schema else "")


def detect_primary_key(stream: str, props: dict, required: set[str]) -> tuple[str | None, float, str]:
    singular = stream.removesuffix("s")
    # gid (Asana) and sid (Twilio) are those vendors' documented record identifiers
    for cand, conf in (("id", 0.95), ("gid", 0.85), ("sid", 0.85), (f"{singular}_id", 0.8),
                       (f"{singular}Id", 0.8), ("uuid", 0.6), ("key", 0.5)):
        if cand in props:
            sure = cand in required
            return cand, min(1.0, conf + 0.03 * sure), f"the field `{cand}`" + (" (required)" if sure else "")
    return None, 0.3, "no id-like field: rows will be appended, not merged"


def detect_cursor_field(props: dict) -> tuple[str | None, float, str]:
    """A time field when the API offers no filter on it (the plan reads everything each run)."""
    field_ = next((f for f in (*UPDATED, *CREATED) if f in props), None)
    if field_:
        return field_, 0.5, f"a `{field_}` field but no filter parameter: each run reads everything"
    return None, 0.3, "no time field: each run reads everything"


def find(props: dict, d: Document, paths: tuple[str, ...]) -> str | None:
    for path in paths:
        node: dict | None = {"properties": props}
        for part in path.split("."):
            node = d.props(node).get(part) if node is not None else None
        if node is not None:
            return path
    return None


