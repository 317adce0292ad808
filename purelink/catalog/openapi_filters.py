"""Query parameters that decide WHICH records come back: time filters (for incremental runs) and
default filters that hide records (GitHub's `state=open`, Stripe's subscriptions without canceled).

A parameter is only a time filter when its schema (`format: date-time`, a deepObject of bounds) or
its description says time: GitHub's `since` on /repositories is a repository id.
"""

from __future__ import annotations

import re

from purelink.catalog.openapi_guesses import CREATED, UPDATED, Document, kind

LOWER = ("gte", "gt", "min", "after", "since", "from", "start")
UPPER = ("lt", "lte", "max", "before", "until", "to", "end")
TIME_WORDS = re.compile(r"\b(time|timestamp|date|datetime|iso ?8601|unix|epoch|seconds)\b", re.IGNORECASE)
EVERYTHING = ("all", "any", "*")
NARROWING = re.compile(r"^(state|status|statuses|archived|include_deleted|show_deleted|filter)$", re.IGNORECASE)


def says_time(d: Document, param: dict) -> bool:
    schema = d.schema(param.get("schema", {}))
    if schema.get("format") in ("date-time", "date", "unix-time"):
        return True
    if TIME_WORDS.search(str(param.get("description", ""))):
        return True
    return any(sub.get("format") in ("date-time", "date", "unix-time") for sub in d.props(schema).values())


def field_says_time(schema: dict) -> bool:
    return schema.get("format") in ("date-time", "date", "unix-time") or bool(
        TIME_WORDS.search(str(schema.get("description", ""))))


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
            entry["says_time"] = entry.get("says_time") or says_time(d, p)
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
        entry["says_time"] = entry.get("says_time") or says_time(d, p)
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
        # the parameter says time, or it filters a field of its own name that does (Stripe's
        # `created`, described on the record as Unix time); GitHub's `since` on /repositories is an id
        if field_ is None or not (entry["says_time"] or (field_ == base and field_says_time(props[field_]))):
            continue
        ftype = kind(props[field_])
        fmt = "unix" if ftype in ("integer", "number") or entry["type"] in ("integer", "number") else "iso"
        conf = 0.9 if field_ == base and entry.get("lt") else 0.8 if field_ == base else 0.65
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


def include_everything(d: Document, params: dict) -> list[tuple[str, str, float, str]]:
    """(parameter, value, confidence, evidence) for each list filter whose default narrows the set:
    an enum with an "all" value that is not the default, or a status filter with a narrowing default."""
    out = []
    for pname, p in params.items():
        schema = d.schema(p.get("schema", {}))
        values = schema.get("enum") or d.schema(schema.get("items", {})).get("enum") or []
        default = schema.get("default")
        every = next((v for v in values if str(v).lower() in EVERYTHING), None)
        if every is not None and default != every:
            why = f"default {default!r} leaves records out" if default is not None else "left empty"
            out.append((pname, every, 0.9, f"`{pname}` takes {every!r} ({why}; all records are loaded)"))
        elif NARROWING.match(pname) and default not in (None, "", every):
            out.append((pname, default, 0.4,
                        (f"`{pname}` defaults to {default!r} and has no 'all' value: records outside it "
                        "are not loaded unless you say how to include them")))
    return out


#: OpenAPI `format` values of integers that count time since 1970 (Stripe's spec3 says `unix-time`)
UNIX_FORMATS = {"unix-time": "unix-seconds", "unix-timestamp": "unix-seconds", "unix-time-ms": "unix-ms",
                "unix-ms": "unix-ms", "epoch-millis": "unix-ms"}


def unix_time_fields(d: Document, props: dict, prefix: str = "", depth: int = 1) -> dict[str, str]:
    """Field path -> unit for the record's integer fields the schema calls Unix times, nested
    objects down to `a.b` (how deep a column can be chosen), for the stream's `formats`.

    `props` are the raw property schemas: an expandable field (Stripe's `customer`, an id string
    unless the request expands it) is not descended into, as the records hold its id."""
    found: dict[str, str] = {}
    for name, raw in props.items():
        schema = d.schema(raw)
        unit = UNIX_FORMATS.get(str(schema.get("format", "")))
        if unit and kind(schema) in ("integer", "number"):
            found[f"{prefix}{name}"] = unit
        elif kind(schema) == "object" and depth < 2 and not _expandable(d, raw):
            found.update(unix_time_fields(d, d.schema(schema).get("properties", {}), f"{prefix}{name}.", depth + 1))
    return found


def _expandable(d: Document, raw: dict) -> bool:
    node = d.resolve(raw)
    arms = (node.get("anyOf") or node.get("oneOf") or []) if isinstance(node, dict) else []
    return any(kind(d.schema(arm)) == "string" for arm in arms)
