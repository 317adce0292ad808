"""Code generation: a recipe and its connector spec become a short, declarative module.

The module imports `purelink.runtime` and declares the source and its streams; all the hard
parts live in the runtime. Values are written with `repr`, so nothing in a recipe can inject
code, and no secret value is ever written: credentials appear only by name.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from purelink import __version__
from purelink.catalog.spec import ConnectorSpec, Pagination, get_spec
from purelink.errors import RecipeError
from purelink.recipes import Recipe
from purelink.runtime.sources.rest import RestSource, Stream
from purelink.runtime.windows import TimeFilter

LINE = 100  # generated lines stay under ruff's 110 with room for the reader
LINT_LINE = 110  # the line length the pre-flight lint checks (and isort wraps imports at)

PAGINATORS = {
    "cursor": "CursorPagination", "next_url": "NextUrlPagination", "link_header": "LinkHeaderPagination",
    "page_number": "PageNumberPagination", "offset": "OffsetPagination", "single page": "SinglePage",
    "graphql": "GraphQLPagination",
}


def literal(value) -> str:
    """A Python literal in the house style (double quotes), safe for any recipe value."""
    if isinstance(value, Code):
        return value
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid Python
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def runtime_default(cls: type, name: str) -> Any:
    """The runtime's own default for a field, so a module spells out only what differs from it
    (and a default changed in the runtime is never contradicted by a copied literal)."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return f.default


def one_per_line(values: list, indent: int) -> str:
    """A long list (of columns) with one item per line, as a person would write it."""
    pad = " " * (indent + 4)
    return "[\n" + "".join(f"{pad}{literal(v)},\n" for v in values) + " " * indent + "]"


def call(_callee: str, *args, indent: int = 0, multiline: bool = False, **kwargs) -> str:
    parts = [literal(a) for a in args] + [f"{k}={literal(v)}" for k, v in kwargs.items() if v is not None]
    if not multiline:
        return f"{_callee}({', '.join(parts)})"
    pad = " " * (indent + 4)
    for i, (k, v) in enumerate((k, v) for k, v in kwargs.items() if v is not None):
        part = parts[len(args) + i]
        if isinstance(v, list) and len(pad) + len(part) + 1 > LINE:
            parts[len(args) + i] = f"{k}={one_per_line(v, indent + 4)}"
    return f"{_callee}(\n" + "".join(f"{pad}{p},\n" for p in parts) + " " * indent + ")"


class Code(str):
    """Text that is already Python source (not to be repr'd)."""


def paginator_code(p: Pagination, indent: int = 4) -> Code:
    import inspect

    from purelink.runtime.paginators import STYLES

    defaults = inspect.signature(STYLES[p.style].__init__).parameters
    # A null in the connector (has_more_path: null, the body has no such flag) is said as None
    # where the runtime's default is something: left out, the default would read a flag that is not there.
    options = {k: Code("None") if v is None and k in defaults and defaults[k].default is not None else v
               for k, v in (p.model_extra or {}).items()}
    text = call(PAGINATORS[p.style], **options)
    if len(text) + indent + len("paginator=,") > LINE:
        text = call(PAGINATORS[p.style], indent=indent, multiline=True, **options)
    return Code(text)


def auth_code(spec: ConnectorSpec, secret: str) -> Code:
    a = spec.auth
    if a.style == "bearer":
        return Code(call("BearerAuth", secret=secret))
    if a.style == "header":
        return Code(call("HeaderAuth", header=a.header, secret=secret, prefix=a.prefix or None))
    if a.style == "basic":
        return Code(call("BasicAuth", username_secret=secret, password_secret=a.password_env))
    if a.style == "query":
        return Code(call("QueryAuth", param=a.param, secret=secret))
    return Code("NoAuth()")


def credential_name(recipe: Recipe, spec: ConnectorSpec) -> str:
    return recipe.source.credential or spec.auth.env or f"{spec.name.upper()}_API_KEY"


def render(recipe: Recipe, spec: ConnectorSpec | None = None) -> str:
    """The module's source text."""
    spec = spec or get_spec(recipe.source.name)
    if spec.kind != "rest":
        raise RecipeError(f"{spec.title} is a database source; REST code generation does not apply.",
                          "Use the database pipeline generator for it.")
    spec = spec.resolved(recipe.source.variables, base_url=recipe.source.base_url)  # fill {placeholders}
    req = recipe.requirements
    names = {"RestSource", "Stream", "main"}
    auth = auth_code(spec, credential_name(recipe, spec))
    names.add(auth.split("(")[0])
    pag = paginator_code(spec.pagination)
    names.add(pag.split("(")[0])
    streams = []
    for choice in recipe.streams:
        s = spec.stream(choice.name)
        kwargs: dict = {"path": s.path}
        if s.primary_key is None:  # said explicitly: the runtime's default is a key
            kwargs["primary_key"] = Code("None")
        elif s.primary_key != runtime_default(Stream, "primary_key"):
            kwargs["primary_key"] = tuple(s.primary_key) if isinstance(s.primary_key, list) else s.primary_key
        if s.records_path is not None:
            kwargs["records_path"] = s.records_path
        if s.params:
            kwargs["params"] = s.params
        if s.pagination is not None:
            kwargs["paginator"] = paginator_code(s.pagination, indent=8)
            names.add(kwargs["paginator"].split("(")[0])
        if s.time_filter is not None:
            tf = s.time_filter
            # None said explicitly: the runtime's defaults are Stripe's created[gte]/created[lt]
            kwargs["time_filter"] = Code(call(
                "TimeFilter", tf.field, gte=tf.gte or Code("None"), lt=tf.lt or Code("None"),
                format=None if tf.format == runtime_default(TimeFilter, "format") else tf.format,
                order=None if tf.order == runtime_default(TimeFilter, "order") else tf.order,
                template=tf.template))
            names.add("TimeFilter")
            kwargs["start"] = req.history_start
            kwargs["lookback_s"] = req.lookback_s or None
        if choice.into and choice.into != choice.name:
            kwargs["table"] = choice.into
        if choice.columns is not None:
            kwargs["columns"] = choice.columns
        # only what the selection loads: without one, a nested field stays inside its JSON object
        formats = {f: u for f, u in s.formats.items()
                   if (f in choice.columns if choice.columns is not None else "." not in f)}
        if formats:
            kwargs["formats"] = formats
        if choice.validations:
            rules = ", ".join(call("Validation", v.kind, v.field, type=v.type) for v in choice.validations)
            kwargs["validations"] = Code(f"[{rules}]")
            names.add("Validation")
        if choice.max_bad_share != runtime_default(Stream, "max_bad_share"):
            kwargs["max_bad_share"] = choice.max_bad_share
        streams.append(call("Stream", choice.name, indent=4, multiline=True, **kwargs))
    source = call(
        "RestSource", indent=0, multiline=True, name=spec.name,
        base_url=recipe.source.base_url or spec.base_url, auth=auth, paginator=pag,
        records_path=None if spec.records_path == runtime_default(RestSource, "records_path") else spec.records_path,
        rate_limit=req.rate_limit or spec.rate_limit.requests_per_second, burst_s=spec.rate_limit.burst_s,
        concurrency=req.concurrency or (
            None if spec.concurrency == runtime_default(RestSource, "concurrency") else spec.concurrency),
        headers=spec.headers or None, retry_budget_s=req.retry_budget_s,
        request_deadline_s=req.request_deadline_s,
    )
    main_kwargs = {"pipeline": recipe.name, "version": recipe.version}
    warehouse = destination_code(recipe, default_schema=spec.name, names=names, entry_kwargs=main_kwargs)
    return module_text(recipe, names, source, streams, "main", main_kwargs, middle=warehouse)


def destination_code(recipe: Recipe, *, default_schema: str, names: set[str], entry_kwargs: dict,
                     arrow: bool = False) -> str:
    """Where the rows go: the DuckDB file's options, or a `warehouse = ...Destination(...)` block
    built from the recipe's store URL (secrets by the names of their vault entries) that the entry
    point receives. A `--sample` run still writes to a scratch DuckDB file."""
    from purelink.storage import run_destination

    dest = recipe.destination
    built = run_destination(recipe, default_schema=default_schema, arrow=arrow)
    if built is None:
        if dest.path:
            entry_kwargs["db"] = dest.path
        if arrow and dest.schema_name:
            entry_kwargs["schema"] = dest.schema_name
        if dest.airbyte_metadata:
            entry_kwargs["airbyte_metadata"] = True
        return ""
    cls, kwargs = built
    names.add(cls)
    entry_kwargs["warehouse"] = Code("warehouse")
    return "warehouse = " + call(cls, indent=0, multiline=True, **kwargs) + "\n\n"


def module_text(recipe: Recipe, names: set[str], source: str, streams: list[str], entry: str,
                entry_kwargs: dict, middle: str = "") -> str:
    """The layout every generated module shares: header, imports, source, streams, entry point."""
    entry_kwargs = {**entry_kwargs, "workspace": Code("Path(__file__).resolve().parents[1]")}
    main_call = call(entry, Code("source"), Code("streams"), **entry_kwargs)
    if len(main_call) > LINE:
        main_call = call(entry, Code("source"), Code("streams"), indent=4, multiline=True, **entry_kwargs)
    stream_list = "".join(f"    {s},\n" for s in streams)
    imports = f"from purelink.runtime import {', '.join(sorted(names))}\n"
    if len(imports.rstrip()) > LINT_LINE:  # as isort wraps a line too long for the linter: one name a line
        imports = "from purelink.runtime import (\n" + "".join(f"    {n},\n" for n in sorted(names)) + ")\n"
    return (
        f'"""{recipe.name} v{recipe.version}: generated by purelink {__version__} from '
        f'recipes/{recipe.filename}.\n\nRun: python pipelines/{recipe.name}.py [--sample N] [--full-refresh]\n"""\n\n'
        "from pathlib import Path\n\n"
        f"{imports}\n"
        f"source = {source}\n\n"
        f"streams = [\n{stream_list}]\n\n"
        f"{middle}"
        'if __name__ == "__main__":\n'
        f"    {main_call}\n"
    )


def write_module(recipe: Recipe, pipelines_dir: Path, spec: ConnectorSpec | None = None, *,
                 renderer=None) -> Path:
    """Write `pipelines/NAME.py` atomically (a half-written module is never run)."""
    pipelines_dir.mkdir(parents=True, exist_ok=True)
    path = pipelines_dir / f"{recipe.name}.py"
    tmp = path.with_suffix(".py.tmp")
    tmp.write_text((renderer or render)(recipe, spec))
    tmp.replace(path)
    return path
