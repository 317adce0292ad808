"""What an OpenAPI document says without saying it: the importer's guesses.

Each `detect_*` function returns the value for the connector spec, how sure it is (0-1) and the
evidence in words, so the user sees why (the pattern of dlt's paginator detection, without its
silent application). `Document` resolves local `$ref`s and the schema shapes asked about.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

RECORD_LISTS = ("data", "items", "results", "records", "entries", "values", "elements", "list", "rows")
RECORD_CURSOR_PARAMS = ("starting_after", "after_id", "since_id")
BODY_CURSOR_PARAMS = ("cursor", "after", "page_token", "pageToken", "next_token", "nextToken",
                      "continuation", "starting_token", "page_cursor", "next_cursor")
BODY_CURSOR_FIELDS = ("next_cursor", "nextCursor", "next_page_token", "nextPageToken", "cursor",
                      "paging.next.after", "meta.next_cursor", "response_metadata.next_cursor", "next_token")
HAS_MORE = ("has_more", "hasMore", "more", "has_next")
NEXT_URL = ("next", "next_url", "nextUrl", "next_page_url", "nextRecordsUrl", "next_link", "nextLink",
            "links.next", "_links.next.href", "@odata.nextLink", "paging.next")
LIMIT_PARAMS = ("limit", "per_page", "page_size", "pageSize", "size", "count", "max_results", "maxResults")
UPDATED = ("updated_at", "updated", "updatedAt", "modified_at", "modified", "last_modified", "lastModified",
           "SystemModstamp", "LastModifiedDate", "lastmodifieddate")
CREATED = ("created", "created_at", "createdAt", "CreatedDate", "createdate", "inserted_at")
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

    def resolve(self, node: Any) -> Any:
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
    for cand, conf in (("id", 0.95), (f"{singular}_id", 0.8), (f"{singular}Id", 0.8), ("uuid", 0.6),
                       ("key", 0.5)):
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


def detect_time_filter(d: Document, params: dict, props: dict,
                       text: str = "") -> tuple[dict, float, str] | None:
    """A time filter from query parameters: `created[gte]` style (deepObject), `updated_at_min`,
    `updated_since`, `since`."""
    found: dict[str, dict[str, str]] = {}  # field -> {"gte": param, "lt": param, "type": ...}
    for pname, p in params.items():
        schema = d.schema(p.get("schema", {}))
        sub = d.props(schema)
        bracket = re.fullmatch(r"(\w+)\[(\w+)\]", pname)
        if sub and ({"gte", "gt"} & set(sub)):
            entry = found.setdefault(pname, {"type": kind(sub.get("gte") or sub.get("gt") or {})})
            entry["gte"] = f"{pname}[{'gte' if 'gte' in sub else 'gt'}]"
            if {"lt", "lte"} & set(sub):
                entry["lt"] = f"{pname}[{'lt' if 'lt' in sub else 'lte'}]"
            continue
        if bracket:
            base, op = bracket.groups()
        else:
            m = re.fullmatch(r"(\w+?)[_.]?(min|max|after|before|since|gte|gt|lt|lte|from|to)", pname)
            if m:
                base, op = m.groups()
            elif re.fullmatch(r"min_(\w+)", pname):
                base, op = pname[4:], "min"
            elif pname in ("since", "from", "start_time", "start_date"):
                base, op = "", "since"
            else:
                continue
        base = base.rstrip("_")
        entry = found.setdefault(base, {"type": kind(schema)})
        if op in LOWER and "gte" not in entry:
            entry["gte"] = pname
        elif op in UPPER and "lt" not in entry:
            entry["lt"] = pname
    best = None
    for base, entry in found.items():
        if "gte" not in entry:
            continue
        field_ = base if base in props else next(
            (f for f in ((*UPDATED, *CREATED) if base in ("", "updated") else (*CREATED, *UPDATED))
             if f in props and (not base or f.startswith(base))), None)
        if field_ is None:
            continue
        ftype = kind(props[field_])
        fmt = "unix" if ftype in ("integer", "number") or entry["type"] in ("integer", "number") else "iso"
        conf = 0.9 if field_ == base and entry.get("lt") else 0.75 if field_ == base else 0.55
        score = (conf, field_ in UPDATED)
        if best is None or score > best[0]:
            filt = {"field": field_, "gte": entry["gte"], "lt": entry.get("lt"), "format": fmt,
                    "order": "asc"}
            upper = f" and {entry['lt']}" if entry.get("lt") else " (lower bound only)"
            ev = (f"query parameter {entry['gte']}{upper}"
                  + f" filter the {ftype or 'time'} field {field_} ({fmt} time)")
            best = (score, (filt, conf, ev))
    if best is None:
        return None
    filt, conf, ev = best[1]
    # Only the operation's own words count: splitting windows relies on newest-first order.
    if re.search(r"(most recent|newest)[^.]{0,40}first|sorted[^.]{0,40}descending", text, re.IGNORECASE):
        filt["order"] = "desc"
        ev += "; the documentation lists newest first"
    return filt, conf, ev


def find(props: dict, d: Document, paths: tuple[str, ...]) -> str | None:
    for path in paths:
        node: dict | None = {"properties": props}
        for part in path.split("."):
            node = d.props(node).get(part) if node is not None else None
        if node is not None:
            return path
    return None


def detect_pagination(d: Document, params: dict, body: dict, headers: set[str], text: str,
                      pk: str) -> tuple[dict, float, str]:
    """(pagination dict for the spec, confidence, evidence), the best-scoring style."""
    names = set(params)
    limit = next((p for p in LIMIT_PARAMS if p in names), None)
    size = 100
    if limit:
        schema = d.schema(params[limit].get("schema", {}))
        size = int(schema.get("maximum") or schema.get("default") or 100)
    # "" (not None) says "no such parameter": the paginators' defaults would send `limit`/`has_more`
    sized = {"limit_param": limit, "page_size": min(size, 1000)} if limit else {"limit_param": ""}
    candidates: list[tuple[float, dict, str]] = []

    def add(conf: float, evidence: str, style: str, **options: Any) -> None:
        candidates.append((conf, {"style": style, **options}, evidence))

    has_more = find(body, d, HAS_MORE)
    more = f" and `{has_more}` in the body" if has_more else ""
    for p in (p for p in RECORD_CURSOR_PARAMS if p in names):
        add(0.9 if has_more else 0.6, f"query parameter {p}{more}", "cursor", cursor_param=p,
            cursor_field=pk, has_more_path=has_more or "", **sized)
    body_cursor = find(body, d, BODY_CURSOR_FIELDS)
    for p in (p for p in BODY_CURSOR_PARAMS if p in names):
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
    page = next((p for p in ("page", "page_number", "pageNumber") if p in names), None)
    if page:
        total = find(body, d, ("total_pages", "totalPages", "pages", "meta.total_pages"))
        per = next((p for p in ("per_page", "page_size", "pageSize", "size", "limit") if p in names), None)
        add(0.75 if per else 0.55, f"query parameters {page}" + (f" and {per}" if per else ""), "page_number",
            page_param=page, total_pages_path=total, **{**sized, "limit_param": per or ""})
    offset = next((p for p in ("offset", "skip", "start") if p in names), None)
    if offset:
        total = find(body, d, ("total", "total_count", "totalCount", "count", "meta.total"))
        add(0.75 if limit else 0.55, f"query parameters {offset}" + (f" and {limit}" if limit else ""),
            "offset", offset_param=offset, total_path=total, **sized)
    if not candidates:
        return {"style": "single page"}, 0.4, "no pagination parameter or field found: one request per sync"
    conf, pag, ev = max(candidates, key=lambda c: c[0])
    return {k: v for k, v in pag.items() if v is not None}, conf, ev


def detect_auth(d: Document, doc: dict, name: str) -> tuple[dict, float, str]:
    declared = (doc.get("components") or {}).get("securitySchemes") or {}
    schemes = {k: d.resolve(v) for k, v in declared.items()}
    env = f"{name.upper()}_API_KEY"
    docs = (doc.get("externalDocs") or {}).get("url")
    step = (f"Create an API key or access token in the {name} dashboard (see its documentation) "
            "and paste it here.")
    guidance = {"dashboard_url": docs, "steps": [step]}
    ranked = []
    for key, s in schemes.items():
        t, scheme = s.get("type"), str(s.get("scheme", "")).lower()
        if t == "http" and scheme == "bearer":
            ranked.append((0.9, {"style": "bearer"}, f"security scheme {key}: HTTP bearer"))
        elif t in ("oauth2", "openIdConnect"):
            ranked.append((0.6, {"style": "bearer"}, f"security scheme {key}: {t}; paste an access token"))
        elif t == "apiKey" and s.get("in") == "header":
            if str(s.get("name", "")).lower() == "authorization":
                ranked.append((0.55, {"style": "header", "header": "Authorization"},
                               f"security scheme {key}: the key goes in the Authorization header as is"))
            else:
                ranked.append((0.85, {"style": "header", "header": s.get("name")},
                               f"security scheme {key}: key in the {s.get('name')} header"))
        elif t == "http" and scheme == "basic":
            ranked.append((0.7, {"style": "basic"},
                           f"security scheme {key}: HTTP basic, the key as user name"))
        elif t == "apiKey" and s.get("in") == "query":
            ranked.append((0.8, {"style": "query", "param": s.get("name")},
                           f"security scheme {key}: key in the {s.get('name')} query parameter"))
    if not ranked:
        return ({"style": "none", "guidance": guidance}, 0.5,
                "no security scheme: requests are sent without a key")
    conf, auth, ev = max(ranked, key=lambda r: r[0])
    if len(ranked) > 1:
        ev += f" (preferred among {len(ranked)} schemes)"
    return {**auth, "env": env, "guidance": guidance}, conf, ev


def detect_rate_limit(doc: dict) -> tuple[dict, float, str]:
    text = json.dumps(doc, default=str)
    headers = sorted({h for h in re.findall(r'"((?:x-)?rate-?limit[\w-]*)"', text, re.IGNORECASE)})
    m = re.search(r"(\d+(?:\.\d+)?)\s*(?:read\s+)?requests?\s*(?:per|/|a|an)\s*(second|sec|minute|min)", text,
                  re.IGNORECASE)
    if m:
        rps = float(m[1]) / (60 if m[2].lower().startswith("min") else 1)
        return {"requests_per_second": rps, "headers": headers}, 0.7, f"the documentation says {m[0]!r}"
    return ({"requests_per_second": 5.0, "headers": headers}, 0.3,
            "no documented limit: a conservative 5 requests/s"
            + (f"; headers {', '.join(headers)}" if headers else ""))
