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
    """Stream name -> the table it loads into: named after the source table. Two streams with one
    table name (refills.public.items, bodies.public.items) get their database or schema as a
    prefix, so neither overwrites the other."""
    last = [c.name.split(".")[-1] for c in recipe.streams]
    out = {}
    for choice, table in zip(recipe.streams, last, strict=True):
        parts = choice.name.split(".")
        out[choice.name] = table if last.count(table) == 1 or len(parts) == 1 else "_".join([*parts[-3:-1], table])
    return out


def stream_code(recipe: Recipe) -> list[str]:
    """One `Table(...)` or `Query(...)` per chosen stream; destination tables named after the table."""
    targets = destination_tables(recipe)
    streams = []
    for choice in recipe.streams:
        into = targets[choice.name]
        kwargs: dict = {}
        query = choice.query
        if into != choice.name:
            kwargs["into"] = into
        if choice.primary_key is not None:
            pk = choice.primary_key
            kwargs["primary_key"] = tuple(pk) if isinstance(pk, list) else pk
        if choice.cursor is not None:
            kwargs["cursor"] = choice.cursor
        if not query and choice.columns is not None:
            kwargs["columns"] = choice.columns
        args = (choice.name, query) if query else (choice.name,)
        text = call("Query" if query else "Table", *args, **kwargs)
        if len(text) > codegen.LINE - 4:  # the list entry is indented by four
            text = call("Query" if query else "Table", *args, indent=4, multiline=True, **kwargs)
        streams.append(text)
    return streams


def render(recipe: Recipe, spec: ConnectorSpec | None = None) -> str:
    """The module's source text."""
    spec = spec or get_spec(recipe.source.name)
    if spec.kind != "database":
        raise RecipeError(f"{spec.title} is not a database source.", "Use the API pipeline generator for it.")
    names = {"PostgresSource", "sql_main"}
    streams = stream_code(recipe)
    names.update(s.split("(")[0] for s in streams)
    source = call("PostgresSource", indent=0, multiline=True, url=source_url(recipe, spec),
                  password=credential_name(recipe, spec),
                  name=spec.name if spec.name != "postgres" else None)
    dest = recipe.destination
    main_kwargs: dict = {"pipeline": recipe.name, "version": recipe.version}
    warehouse = ""
    if dest.kind == "postgres":
        if not dest.url:
            raise RecipeError(f"The recipe {recipe.name} loads into a PostgreSQL warehouse but gives no URL.",
                              "Set destination.url to postgresql://USER@HOST:PORT/DATABASE (without password).")
        names.add("PostgresDestination")
        warehouse = "warehouse = " + call(
            "PostgresDestination", indent=0, multiline=True, url=dest.url, password=warehouse_secret(recipe),
            schema=dest.schema_name or "raw", airbyte_metadata=dest.airbyte_metadata or None) + "\n\n"
        main_kwargs["warehouse"] = Code("warehouse")
    else:
        if dest.path:
            main_kwargs["db"] = dest.path
        if dest.schema_name:
            main_kwargs["schema"] = dest.schema_name
        if dest.airbyte_metadata:
            main_kwargs["airbyte_metadata"] = True
    return module_text(recipe, names, source, streams, "sql_main", main_kwargs, middle=warehouse)


def write_module(recipe: Recipe, pipelines_dir: Path, spec: ConnectorSpec | None = None) -> Path:
    return codegen.write_module(recipe, pipelines_dir, spec, renderer=render)


def warehouse_credentials(recipe: Recipe, *, interactive: bool | None = False) -> dict[str, str]:
    """The warehouse password a run needs, by the name the module reads it under (none for DuckDB)."""
    if recipe.destination.kind != "postgres":
        return {}
    from purelink.secrets.resolve import resolve_secret

    name = warehouse_secret(recipe)
    return {name: resolve_secret(name, env_vars=[name], interactive=interactive,
                                 label=f"password for {recipe.destination.url}").reveal()}
