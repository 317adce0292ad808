"""Code generation for database sources: a recipe becomes a short, declarative module.

Same rules as `codegen.py`: values written as literals, credentials only by name. A stream of a
database recipe is named `table`, `schema.table` or `database.schema.table` (another database on
the same server, read with the same user), and lands in a destination table of its last part.

    source = PostgresSource(url="postgresql://etl@db:5432/refills", password="PGPASSWORD")
    streams = [Table("public.refills", into="refills")]
"""

from __future__ import annotations

from pathlib import Path

from purelink.catalog.spec import ConnectorSpec, get_spec
from purelink.errors import RecipeError
from purelink.pipeline import codegen
from purelink.pipeline.codegen import Code, call, credential_name, module_text
from purelink.recipes import Recipe

WAREHOUSE_SECRET = "WAREHOUSE_PASSWORD"


def source_url(recipe: Recipe, spec: ConnectorSpec) -> str:
    """The connection URL without password: the recipe's, or the spec's form filled in."""
    variables = recipe.source.variables
    if variables or not recipe.source.base_url:
        spec = spec.resolved(variables, base_url=recipe.source.base_url)
    url = recipe.source.base_url or spec.base_url
    if not url or "{" in url:
        raise RecipeError(f"The {spec.title} recipe {recipe.name} has no connection URL.",
                          "Give it as --base-url postgresql://USER@HOST:PORT/DATABASE (without the password).")
    return url


def warehouse_secret(recipe: Recipe) -> str:
    """The secret holding the warehouse password: the destination's credential, or the default name."""
    return recipe.destination.credential or WAREHOUSE_SECRET


def destination_tables(recipe: Recipe) -> dict[str, str]:
    """Stream id -> the table it loads into. A stream's `into` wins; otherwise the source table's
    name, prefixed with its server's name in a recipe of several servers (`plant1_production`), and
    with its database or schema when two streams of one server share a table name
    (refills.public.items, bodies.public.items), so no two sources ever share a default table."""
    last = {recipe.stream_id(c): c.name.split(".")[-1] for c in recipe.streams}
    out = {}
    for choice in recipe.streams:
        sid, table = recipe.stream_id(choice), last[recipe.stream_id(choice)]
        parts = choice.name.split(".")
        if choice.into:
            out[sid] = choice.into
        elif choice.server:
            out[sid] = f"{choice.server}_{table}"
        else:
            shared = list(last.values()).count(table) > 1 and len(parts) > 1
            out[sid] = "_".join([*parts[-3:-1], table]) if shared else table
    return out


RESERVED = {"source", "streams", "warehouse", "Path"}


def server_variable(label: str) -> str:
    """The module variable holding a server's PostgresSource: its label, unless that is taken."""
    return f"{label}_server" if label in RESERVED or label[0].isupper() else label


def stream_code(recipe: Recipe) -> list[str]:
    """One `Table(...)` or `Query(...)` per chosen stream; destination tables named after the table."""
    targets = destination_tables(recipe)
    streams = []
    for choice in recipe.streams:
        sid = recipe.stream_id(choice)
        into = targets[sid]
        kwargs: dict = {}
        query = choice.query
        if into != sid:
            kwargs["into"] = into
        if choice.server:
            kwargs["source"] = Code(server_variable(choice.server))
        if choice.primary_key is not None:
            pk = choice.primary_key
            kwargs["primary_key"] = tuple(pk) if isinstance(pk, list) else pk
        if choice.cursor is not None:
            kwargs["cursor"] = choice.cursor
        if not query and choice.columns is not None:
            kwargs["columns"] = choice.columns
        if query:
            args = (sid, query)
        else:
            args = (sid, choice.name) if sid != choice.name else (choice.name,)
        text = call("Query" if query else "Table", *args, **kwargs)
        if len(text) > codegen.LINE - 4:  # the list entry is indented by four
            text = call("Query" if query else "Table", *args, indent=4, multiline=True, **kwargs)
        streams.append(text)
    return streams


def server_code(recipe: Recipe, spec: ConnectorSpec) -> str:
    """`label = PostgresSource(...)` for each server of a recipe that reads several."""
    lines = []
    for server in recipe.source.servers or []:
        source = call("PostgresSource", indent=0, multiline=True, url=server.base_url,
                      password=server.credential or credential_name(recipe, spec), name=server.name)
        lines.append(f"{server_variable(server.name)} = {source}\n")
    return "\n".join(lines)


def render(recipe: Recipe, spec: ConnectorSpec | None = None) -> str:
    """The module's source text."""
    spec = spec or get_spec(recipe.source.name)
    if spec.kind != "database":
        raise RecipeError(f"{spec.title} is not a database source.", "Use the API pipeline generator for it.")
    names = {"PostgresSource", "sql_main"}
    streams = stream_code(recipe)
    names.update(s.split("(")[0] for s in streams)
    servers = recipe.source.servers or []
    if servers:
        source = Code(server_variable(servers[0].name))  # the run's default; each stream names its own
    else:
        source = call("PostgresSource", indent=0, multiline=True, url=source_url(recipe, spec),
                      password=credential_name(recipe, spec),
                      name=spec.name if spec.name != "postgres" else None)
    main_kwargs: dict = {"pipeline": recipe.name, "version": recipe.version}
    if recipe.requirements.lookback_s:  # how late a transaction may commit and still be loaded
        main_kwargs["lookback_s"] = recipe.requirements.lookback_s
    warehouse = codegen.destination_code(recipe, default_schema="raw", names=names, entry_kwargs=main_kwargs,
                                         arrow=True)
    text = module_text(recipe, names, source, streams, "sql_main", main_kwargs, middle=warehouse)
    if servers:
        text = text.replace(f"\nsource = {source}\n", f"\n{server_code(recipe, spec)}\nsource = {source}\n", 1)
    return text


def write_module(recipe: Recipe, pipelines_dir: Path, spec: ConnectorSpec | None = None) -> Path:
    return codegen.write_module(recipe, pipelines_dir, spec, renderer=render)


def server_credentials(recipe: Recipe, *, interactive: bool | None = False) -> dict[str, str]:
    """The passwords of a recipe's servers, by the names the module reads them under."""
    from purelink.secrets.pgpass import server_password

    default = credential_name(recipe, get_spec(recipe.source.name))
    names = {s.credential or default: s for s in recipe.source.servers or []}
    found = {name: server_password(name, f"password for server {s.name} ({s.base_url})", interactive,
                                   url=s.base_url) for name, s in names.items()}
    return {name: value for name, value in found.items() if value is not None}


def warehouse_credentials(recipe: Recipe, *, interactive: bool | None = False) -> dict[str, str]:
    """The secrets the recipe's store needs (a password, a token), by the names the module reads
    them under; none for a DuckDB file."""
    from purelink.secrets.pgpass import server_password
    from purelink.storage import recipe_store

    store = recipe_store(recipe)
    optional = set(store.optional_secret_names())
    label = f"credential for {store.url.text}"
    found = {name: server_password(name, label, interactive, url=store.url.text) if name in optional
             else _secret(name, label, interactive) for name in store.secret_names()}
    return {name: value for name, value in found.items() if value is not None}


def _secret(name: str, label: str, interactive: bool | None) -> str:
    from purelink.secrets.resolve import resolve_secret

    return resolve_secret(name, env_vars=[name], interactive=interactive, label=label).reveal()
