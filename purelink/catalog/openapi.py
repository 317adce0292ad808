"""OpenAPI 3 import: a connector spec proposed from an API's own description.

    proposal = import_openapi("api.yaml")           # a file, a URL, or an already-parsed dict
    print(proposal.text())                          # every guess, how sure, and why
    spec = proposal.confirm({"customers.primary_key": "id"})   # the user's corrections
    save_spec(spec, workspace)                      # connectors/NAME.yaml, found by get_spec

Nothing guessed is applied silently: each inferred value (pagination, records path, primary key,
cursor and time filter, auth, rate limit) is a `Guess` with a confidence between 0 and 1 and the
evidence, and only `Proposal.confirm()` (the user's act) turns the proposal into a spec.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from purelink.catalog.openapi_auth import (
    detect_auth,
    detect_concurrency,
    detect_health_check,
    detect_rate_limit,
)
from purelink.catalog.openapi_filters import detect_time_filter, include_everything, unix_time_fields
from purelink.catalog.openapi_guesses import Document, Guess, detect_cursor_field, detect_primary_key
from purelink.catalog.openapi_paging import detect_page_size, detect_pagination
from purelink.catalog.openapi_streams import (
    is_collection_path,
    path_variables,
    plain,
    records_of,
    required_query,
    snake,
    stream_name,
)
from purelink.catalog.spec import ConnectorSpec, catalog
from purelink.errors import SourceError

SURE = 0.8  # a guess below this is a question to the user, never applied without being shown


@dataclass
class Proposal:
    """A connector spec inferred from an OpenAPI document, waiting for the user's confirmation."""

    spec: ConnectorSpec
    guesses: list[Guess]
    location: str
    skipped: list[str] = field(default_factory=list)  # GET endpoints not taken, with the reason

    def uncertain(self, below: float = SURE) -> list[Guess]:
        return [g for g in self.guesses if g.confidence < below]

    def questions(self, streams: list[str] | None = None) -> list[Guess]:
        """The guesses the user must see and answer (below 80%), for the chosen streams only."""
        chosen = set(streams or [s.name for s in self.spec.streams])
        names = {s.name for s in self.spec.streams}
        used = " ".join(s.path for s in self.spec.streams if s.name in chosen)
        out = []
        for g in self.uncertain():
            head, _, rest = g.field.partition(".")
            if head == "variables" and "{" + rest + "}" not in used:
                continue
            if head not in names or head in chosen:
                out.append(g)
        return out

    def kept(self, accepted: list[Guess]) -> dict[str, Any]:
        """The changes that accepting these guesses as shown means: the spec already holds every
        value but a path variable's, which becomes the connector's default (so `recipes new` needs
        no `--var` for it). A variable guessed without a value stays without a default."""
        return {g.field: g.value for g in accepted
                if g.field.startswith("variables.") and g.value not in (None, "")}

    def text(self) -> str:
        lines = [f"{self.spec.title}: {len(self.spec.streams)} stream(s) from {self.location}",
                 f"  base URL {self.spec.base_url}"]
        for var, spec in self.spec.variables.items():
            lines.append(f"  variable {{{var}}}: {spec.description}  -> purelink recipes new ... --var {var}=VALUE")
        lines += [f"  {'?' if g.confidence < SURE else ' '} {g}" for g in self.guesses]
        lines += [f"  skipped {s}" for s in self.skipped]
        return "\n".join(lines)

    def confirm(self, changes: dict[str, Any] | None = None) -> ConnectorSpec:
        """The spec with the user's corrections applied: keys are top-level spec fields (`name`,
        `base_url`, `pagination`, `auth`) or `STREAM.FIELD` (`customers.primary_key`); `streams`
        as a list of names keeps only those (and the health check follows them)."""
        data = self.spec.model_dump(mode="json", exclude_none=True)
        streams = {s["name"]: s for s in data["streams"]}
        changes = dict(changes or {})
        for key, value in changes.items():
            head, _, rest = key.partition(".")
            if key == "streams":
                unknown = [n for n in value if n not in streams]
                if unknown:
                    raise SourceError(f"The proposal has no stream named {unknown[0]!r}.",
                                      f"Streams: {', '.join(streams)}.")
                data["streams"] = [streams[n] for n in value]
            elif head == "variables" and rest in data.get("variables", {}):
                data["variables"][rest]["default"] = str(value)  # `--var` can still override it
            elif rest and head in streams:
                target, *inner = rest.split(".")
                if inner and value is None:  # `contacts.params.archived=null`: not sent at all
                    streams[head].get(target, {}).pop(inner[0], None)
                elif inner:  # `issues.params.state=all`
                    streams[head].setdefault(target, {})[inner[0]] = value
                else:
                    streams[head][target] = value
            elif rest:
                raise SourceError(f"The proposal has no stream named {head!r}.",
                                  f"Streams: {', '.join(streams)}.")
            elif key == "auth" and isinstance(value, dict):  # an answer names the style, not the key's how-to
                data["auth"] = {"guidance": data["auth"].get("guidance", {}), **value}
            elif key == "rate_limit" and isinstance(value, int | float) and not isinstance(value, bool):
                # `rate_limit=10`, as a person answers: requests a second, the guess's other fields kept
                data["rate_limit"] = {**data.get("rate_limit", {}), "requests_per_second": value}
            else:
                data[key] = value
        renamed, old = changes.get("name"), f"{self.spec.name.upper()}_"
        for var in ("env", "password_env") if renamed else ():  # the key's variables follow the name
            if str(data["auth"].get(var) or "").startswith(old):
                data["auth"][var] = snake(str(renamed)).upper() + "_" + data["auth"][var][len(old):]
        if "streams" in changes:  # variables only the dropped streams needed are not asked for
            used = " ".join(s["path"] for s in data["streams"]) + str(data.get("base_url"))
            data["variables"] = {k: v for k, v in data.get("variables", {}).items() if "{" + k + "}" in used}
        if "streams" in changes and "health_check" not in changes and data["streams"]:
            data["health_check"], _, _ = detect_health_check(data["streams"], data["pagination"])
        try:
            return ConnectorSpec.model_validate(data)
        except ValidationError as exc:
            raise SourceError(f"The corrected spec is invalid: {exc.errors()[0]['msg']}",
                              "Fix the value named and confirm again.") from None


def load_document(location: str | os.PathLike | dict) -> tuple[dict, str]:
    """The parsed document and where it came from (a path, a URL, or `<dict>`); `.gz` files are
    read as such. YAML goes through libyaml's C loader when present (Stripe's 4 MB YAML: 5 s -> 0.3 s)."""
    if isinstance(location, dict):
        return _check_version(location, "<dict>"), "<dict>"
    where = str(location)
    try:
        if where.startswith(("http://", "https://")):
            import httpx

            response = httpx.get(where, timeout=30, follow_redirects=True)
            response.raise_for_status()
            raw = response.content
        else:
            raw = Path(where).expanduser().read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8-sig")
    except Exception as exc:  # noqa: BLE001 - any failure to fetch is one user-facing message
        raise SourceError(f"Cannot read the OpenAPI document {where}: {type(exc).__name__}: {exc}",
                          "Check the path or URL (it must be reachable from here).") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else (indexed(text) or yaml.load(text, Loader=loader))
    except (ValueError, yaml.YAMLError) as exc:
        raise SourceError(f"{where} is neither JSON nor YAML: {str(exc)[:200]}",
                          "Give the raw OpenAPI document.") from None
    return _check_version(doc, where), where


def indexed(text: str) -> dict | None:
    """Block-style YAML cut at its keys, only the GET operations and what they $ref parsed (a 10 MB
    document: 21 s -> a few); None when the layout is not plain block style, or not what the index
    expects, and the whole text is parsed instead."""
    from purelink.catalog.openapi_index import index_yaml

    try:
        return index_yaml(text)
    except (ValueError, yaml.YAMLError):
        return None


def _check_version(doc: Any, where: str) -> dict:
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3"):
        found = doc.get("swagger") if isinstance(doc, dict) else None
        what = f" (it is Swagger {found})." if found else "."
        raise SourceError(f"{where} is not an OpenAPI 3 document{what}",
                          "Convert Swagger 2 documents to OpenAPI 3 first (e.g. with swagger2openapi).")
    return doc


def default_name(title: str) -> str:
    """From the title, never a catalog name: saving `stripe` would clash with the catalog's Stripe."""
    name = snake(re.sub(r"\b(api|rest|openapi)\b", "", title, flags=re.IGNORECASE)) or "imported"
    if not re.match(r"^[a-z]", name):
        name = f"api_{name}"
    return f"{name}_imported" if name in catalog() else name


def import_openapi(location: str | os.PathLike | dict, *, name: str | None = None,
                   base_url: str | None = None) -> Proposal:
    """Propose a connector spec for the GET collection endpoints of an OpenAPI 3 document."""
    doc, where = load_document(location)
    d = Document(doc)
    info = doc.get("info") or {}
    title = str(info.get("title") or "Imported API")
    name = name or default_name(title)
    guesses: list[Guess] = []
    skipped: list[str] = []
    streams, pagings, operations = [], [], []
    taken: set[str] = set()  # stream names so far (a set: a 10 MB document has thousands of paths)
    variables: dict[str, dict] = {}
    server = base_url or server_url(doc, where)
    prefix = urlsplit(server or "").path.rstrip("/")
    for path, item in (doc.get("paths") or {}).items():
        op = (item or {}).get("get")
        if not op:
            continue
        operations.append(op)
        declared = [*item.get("parameters", []), *op.get("parameters", [])]
        params = {p.get("name"): p for p in map(d.resolve, declared)
                  if isinstance(p, dict) and p.get("in") == "query"}
        needed = required_query(params, d)
        if needed:
            skipped.append(f"GET {path}: needs the query parameter(s) {', '.join(needed)} for every request")
            continue
        response = pick_response(d, op)
        found = records_of(d, response["schema"], path) if response else None
        if found is None:
            what = "one object by its id" if not is_collection_path(path) else "one record"
            skipped.append(f"GET {path}: the response is {what}, not a list of records")
            continue
        records_path, item_schema, body = found
        # a base URL ending in /v1 and a path starting with /v1 would ask for /v1/v1/customers
        local = path[len(prefix):] if prefix and path.startswith(prefix + "/") else path
        stream = stream_name(local, taken)
        taken.add(stream)
        for var, spec in path_variables(d, path, declared).items():
            variables.setdefault(var, spec)
        text = " ".join(str(op.get(k, "")) for k in ("summary", "description"))
        streams.append(stream_spec(d, stream, local, op, params, records_path, item_schema, guesses))
        paging = detect_pagination(d, params, body, response["headers"], text + " " + str(info.get("description", "")),
                                   streams[-1].get("primary_key") or "id")
        limit, size, conf, ev = detect_page_size(d, params)
        if limit:
            guesses.append(Guess(f"{stream}.page_size", size, conf, ev))
        pagings.append((stream, paging))
    if not streams:
        raise SourceError(f"{where} describes no GET endpoint that returns a list of records.",
                          "Check that it is the API's full document (with `paths` and response schemas).")

    def same(paging: dict) -> str:
        return json.dumps(paging, sort_keys=True, default=str)

    shared = Counter(same(p[0]) for _, p in pagings)  # counted once: a 10 MB document has 1,000+ streams

    def votes(found: tuple) -> tuple:  # the style most endpoints share, then the surest
        return shared[same(found[0])], found[1]

    pagination, conf, ev = max((p for _, p in pagings), key=votes)
    guesses.append(Guess("pagination", pagination, conf, ev))
    for (stream, (pag, conf, ev)), spec_stream in zip(pagings, streams):
        if pag != pagination:
            spec_stream["pagination"] = pag
            guesses.append(Guess(f"{stream}.pagination", pag, conf, ev))
    common = {s.get("records_path", "data") for s in streams}
    records_path = common.pop() if len(common) == 1 else "data"
    for s in streams:
        if s.get("records_path") == records_path:
            s.pop("records_path")
    auth, conf, ev = detect_auth(d, doc, name, operations)
    guesses.append(Guess("auth", {k: v for k, v in auth.items() if k != "guidance"}, conf, ev))
    rate, conf, ev = detect_rate_limit(doc, d, operations)
    guesses.append(Guess("rate_limit", rate, conf, ev))
    concurrency, conf, ev = detect_concurrency(rate)
    guesses.append(Guess("concurrency", concurrency, conf, ev))
    health, conf, ev = detect_health_check(streams, pagination)
    guesses.append(Guess("health_check", health, conf, ev))
    for var, spec in variables.items():
        guesses.append(Guess(f"variables.{var}", spec.get("example"), 0.5,
                             f"the paths need {{{var}}} ({spec['description']}): give --var {var}=VALUE"))
    description = plain(info.get("summary") or (info.get("description") or "").split(".")[0]
                        or f"{title} (imported)", 80)
    data = {
        "name": name, "title": title, "category": "Imported", "description": description or title,
        "docs_url": (doc.get("externalDocs") or {}).get("url"), "base_url": server, "auth": auth,
        "health_check": health, "rate_limit": rate, "pagination": pagination, "records_path": records_path,
        "concurrency": concurrency, "streams": streams, "variables": variables,
    }
    try:
        spec = ConnectorSpec.model_validate(data)
    except ValidationError as exc:
        raise SourceError(f"The spec inferred from {where} is invalid: {exc.errors()[0]['msg']}",
                          "Report the document; meanwhile write connectors/NAME.yaml by hand.") from None
    return Proposal(spec, guesses, where, skipped)


def server_url(doc: dict, where: str) -> str | None:
    servers = doc.get("servers") or []
    if not servers:
        return None
    url = str(servers[0].get("url", ""))
    for var, spec in (servers[0].get("variables") or {}).items():
        url = url.replace("{" + var + "}", str(spec.get("default", "")))
    if url.startswith("/") and where.startswith(("http://", "https://")):
        from urllib.parse import urljoin

        url = urljoin(where, url)
    return url.rstrip("/") or None


def pick_response(d: Document, op: dict) -> dict | None:
    responses = op.get("responses") or {}
    code = next((c for c in ("200", 200, "2XX", "default") if c in responses), None)
    code = code or next((c for c in responses if str(c).startswith("2")), None)
    if code is None:
        return None
    response = d.resolve(responses[code])
    content = response.get("content") or {}
    media = next((m for m in content if "json" in m), None)
    if media is None:
        return None
    headers = {h.lower() for h in (response.get("headers") or {})}
    return {"schema": content[media].get("schema", {}), "headers": headers,
            "description": str(response.get("description", ""))}


def stream_spec(d: Document, name: str, path: str, op: dict, params: dict, records_path: str,
                item: dict, guesses: list[Guess]) -> dict:
    props = d.props(item)
    out: dict = {"name": name, "path": path, "records_path": records_path,
                 "description": plain(op.get("summary") or op.get("description"))}
    shape = f"holds a list at {records_path}" if records_path else "is a list"
    guesses.append(Guess(f"{name}.records_path", records_path or "(top level)", 0.9, f"the 200 response {shape}"))
    key, conf, ev = detect_primary_key(name, props, set(item.get("required", [])))
    out["primary_key"] = key
    guesses.append(Guess(f"{name}.primary_key", key, conf, ev))
    text = f"{op.get('summary', '')} {op.get('description', '')}"
    tf = detect_time_filter(d, params, props, text)
    if tf:
        filt, conf, ev = tf
        out["time_filter"], out["cursor_field"] = filt, filt["field"]
        guesses.append(Guess(f"{name}.time_filter", filt, conf, ev))
    else:
        out["cursor_field"], conf, ev = detect_cursor_field(props)
        guesses.append(Guess(f"{name}.cursor_field", out["cursor_field"], conf, ev))
    formats = unix_time_fields(d, d.schema(item).get("properties", {}))
    if formats:
        out["formats"] = formats
        guesses.append(Guess(f"{name}.formats", formats, 0.95, "integer fields with format: unix-time in the response schema"))
    for param, value, conf, ev in include_everything(d, params):
        out.setdefault("params", {})[param] = value
        guesses.append(Guess(f"{name}.params.{param}", value, conf, ev))
    return out


def save_spec(spec: ConnectorSpec, workspace_root: str | os.PathLike, *, origin: str | None = None) -> Path:
    """Write `connectors/NAME.yaml` in the workspace, where `get_spec` finds it."""
    if spec.name in catalog():
        raise SourceError(f"{spec.name!r} is already a catalog source.",
                          "Confirm the import with another name, e.g. {'name': '" + spec.name + "_api'}.")
    folder = Path(workspace_root) / "connectors"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}.yaml"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    header = (f"# {spec.title}: imported from {origin or 'an OpenAPI document'} on {stamp}, "
              "confirmed by the user\n")
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(header + yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False))
    tmp.replace(path)
    return path
