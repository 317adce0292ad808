"""`purelink sources [QUERY]` and `purelink sources show NAME`: the catalog from the command line.

    purelink sources s                  # Salesforce, Shopify, Stripe, as the combobox ranks them
    purelink sources payments --format json
    purelink sources show stripe        # streams, key guidance, limits
    purelink sources import api.yaml --name acme   # an API not in the catalog (sources_import.py)
"""

from __future__ import annotations

import argparse
import json
import sys

from purelink.errors import SourceError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("words", nargs="*", metavar="QUERY",
                        help="text to search for (a name, a typo of one, or words such as 'payments'); "
                             "or `show NAME` for one source, or `import FILE_OR_URL` for an OpenAPI document")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("--limit", type=int, default=10, help="at most this many matches (default 10)")
    from purelink.cli.sources_import import add_import_arguments

    add_import_arguments(parser)


def run(args: argparse.Namespace) -> int:
    words = list(args.words)
    if words and words[0] == "import":
        from purelink.cli.sources_import import run_import

        return run_import(args, words[1:])
    if words and words[0] == "show":
        if len(words) != 2:
            raise SourceError("`purelink sources show` takes one source name.",
                              "For example: purelink sources show stripe. `purelink sources` lists them all.")
        return show(words[1], args.format)
    return search(" ".join(words), args.format, args.limit)


def search(query: str, fmt: str, limit: int) -> int:
    from purelink.catalog.ranking import rank
    from purelink.catalog.spec import catalog, workspace_specs

    known = catalog()  # and the connectors imported into this workspace (`sources import`)
    found = rank(query, [*known.values(), *(s for n, s in workspace_specs().items() if n not in known)], limit=limit)
    if fmt == "json":
        print(json.dumps([{"name": s.name, "title": s.title, "description": s.description, "category": s.category,
                           "label": s.label, "score": s.score, "why": s.why} for s in found], indent=2))
        return 0
    if not found:
        print(f"No source in the catalog matches {query!r}.\n"
              "Try a shorter name or a word such as 'payments' or 'crm'; for another API, import its OpenAPI "
              "document in the wizard (`purelink el-agent`).")
        return 0
    width = max(len(s.name) for s in found)
    label_width = max(len(s.label) for s in found)
    for s in found:
        print(f"{s.name:<{width}}  {s.label:<{label_width}}  {s.category}")
    return 0


def details(name: str) -> dict:
    """What `sources show NAME --format json` prints: the spec in the user's terms."""
    spec = lookup(name)
    return {
        "name": spec.name, "title": spec.title, "category": spec.category, "description": spec.description,
        "kind": spec.kind, "docs_url": spec.docs_url, "base_url": spec.base_url,
        "variables": {k: v.model_dump(exclude_none=True) for k, v in spec.variables.items()},
        "streams": [{"name": s.name, "description": s.description, "primary_key": s.primary_key,
                     "cursor_field": s.cursor_field, "incremental": s.time_filter is not None, "path": s.path}
                    for s in spec.streams],
        "auth": {"style": spec.auth.style, "env": spec.auth.env, "password_env": spec.auth.password_env,
                 "header": spec.auth.header,
                 "key_pattern": spec.auth.key_pattern, "key_hint": spec.auth.key_hint,
                 "guidance": spec.auth.guidance.model_dump()},
        "health_check": spec.health_check.model_dump() if spec.health_check else None,
        "rate_limit": spec.rate_limit.model_dump(),
        "pagination": spec.pagination.model_dump(),
    }


def lookup(name: str):
    from purelink.catalog.ranking import rank
    from purelink.catalog.spec import get_spec

    try:
        return get_spec(name)
    except SourceError:
        close = [s.title for s in rank(name, limit=3)]
        hint = (f"Did you mean {' or '.join(close)}? " if close else "") + \
            "`purelink sources` lists every source; `purelink sources WORDS` searches them."
        raise SourceError(f"No source named {name!r} in the catalog.", hint) from None


def show(name: str, fmt: str) -> int:
    info = details(name)
    if fmt == "json":
        print(json.dumps(info, indent=2))
        return 0
    out = [f"{info['title']} ({info['description']}) - {info['category']}"]
    if info["docs_url"]:
        out.append(f"docs: {info['docs_url']}")
    if info["base_url"]:
        out.append(f"base URL: {info['base_url']}")
    for var, spec in info["variables"].items():
        default = f" (default {spec['default']})" if spec.get("default") else ""
        out.append(f"  {{{var}}}: {spec['description']}{default}  -> --var {var}=...")
    if info["streams"]:
        out.append("\nstreams:")
        width = max(len(s["name"]) for s in info["streams"])
        for s in info["streams"]:
            key = ",".join(s["primary_key"]) if isinstance(s["primary_key"], list) else s["primary_key"]
            extra = f"key {key}" + (f", cursor {s['cursor_field']}" if s["cursor_field"] else "") + \
                (", incremental" if s["incremental"] else "")
            out.append(f"  {s['name']:<{width}}  {s['description']}  [{extra}]")
    auth, guide = info["auth"], info["auth"]["guidance"]
    out.append(f"\nkey: {auth['style']}" + (f" in {auth['header']}" if auth["header"] else "") +
               (f", environment variable {auth['env']}" if auth["env"] else "") +
               (f", password in {auth['password_env']}" if auth.get("password_env") else ""))
    if auth["key_hint"]:
        out.append(f"  {auth['key_hint']}")
    if guide.get("dashboard_url"):
        out.append(f"  get one at {guide['dashboard_url']}")
    out += [f"  {i}. {step}" for i, step in enumerate(guide.get("steps") or [], start=1)]
    if guide.get("test_vs_live"):
        out.append(f"  test vs live: {guide['test_vs_live']}")
    limit = info["rate_limit"]
    if limit.get("requests_per_second") or limit.get("notes"):
        rate = f"{limit['requests_per_second']:g} requests/s" if limit.get("requests_per_second") else "no fixed rate"
        out.append(f"\nrate limit: {rate}" + (f". {limit['notes']}" if limit.get("notes") else ""))
    if info["streams"]:
        pag = info["pagination"]
        options = ", ".join(f"{k}={v}" for k, v in pag.items() if k != "style" and v is not None)
        out.append(f"pagination: {pag['style']}" + (f" ({options})" if options else ""))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    from purelink.cli import module_main

    sys.exit(module_main("sources"))
