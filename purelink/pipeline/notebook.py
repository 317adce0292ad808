"""A recipe as a clean Jupyter notebook, and back.

    export_notebook(recipe, "stripe_customers.ipynb")    # what it loads, the pipeline cell, run, inspect
    import_notebook("stripe_customers.ipynb")            # -> the same Recipe

The notebook holds the recipe twice: as the YAML body of its `%%purelink` pipeline cell (what a
person reads and edits) and in the notebook metadata under `purelink.recipe` (what a tool reads).
Cells have fixed ids and no outputs, so exporting the same recipe twice gives the same file; there
is no widget state and no secret: credentials appear by name only, and any value registered as a
secret in this process is masked before writing. Needs `nbformat` (the `jupyter` extra).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from purelink.errors import PurelinkError, RecipeError
from purelink.recipes import Recipe, parse_recipe
from purelink.secrets.redact import redact
from purelink.workspace import Workspace

__all__ = ["export_notebook", "import_notebook", "notebook_for"]

FORMAT = 1
PIPELINE_CELL = "purelink-pipeline"
MAGIC = "%%purelink"


def _nbformat():
    try:
        import nbformat
    except ImportError:
        raise PurelinkError("Notebook export needs nbformat.",
                            "Reinstall purelink, which depends on it: pip install -e . (in the clone).") from None
    return nbformat


def _schema(recipe: Recipe) -> str:
    if recipe.destination.schema_name:
        return recipe.destination.schema_name
    try:
        from purelink.catalog.spec import get_spec

        return get_spec(recipe.source.name).name
    except PurelinkError:
        return recipe.source.name


def _body(recipe: Recipe) -> str:
    """The recipe as the pipeline cell shows it: what defines it, no version or timestamp."""
    data = recipe.model_dump(mode="json", exclude_none=True, exclude={"version", "created_at"})
    return yaml.safe_dump(data, sort_keys=False).rstrip("\n")


def _tables(recipe: Recipe, tables: dict[str, str] | None) -> dict[str, str]:
    """stream -> `schema.table`: as given (Engine.targets, where the rows really are), else as the recipe names it."""
    schema = _schema(recipe)
    named = {s.name: f"{schema}.{s.into or s.name}" for s in recipe.streams}
    return named | {k: v for k, v in (tables or {}).items() if k in named}


def _about(recipe: Recipe, tables: dict[str, str]) -> str:
    lines = [f"# {recipe.name} (recipe v{recipe.version})", ""]
    if recipe.description:
        lines += [recipe.description, ""]
    lines.append(f"Loads from **{recipe.source.name}** into "
                 f"{'DuckDB' if recipe.destination.kind == 'duckdb' else recipe.destination.kind}:")
    lines.append("")
    for s in recipe.streams:
        columns = ", ".join(f"`{c}`" for c in s.columns) if s.columns else "every field"
        lines.append(f"- `{tables[s.name]}`: {columns}")
    req = recipe.requirements
    lines += ["", f"Purpose {req.purpose}, {req.frequency}"
              + (f", history from {req.history_start}" if req.history_start else "")
              + f"; executor `{recipe.executor}`."]
    credential = recipe.source.credential
    lines += ["", "The key is not in this notebook: "
              + (f"it is read from the vault or the environment variable `{credential}`."
                 if credential else "it is read from the vault or the source's environment variable.")]
    return "\n".join(lines)


def notebook_for(recipe: Recipe, *, tables: dict[str, str] | None = None):
    """The notebook (an `nbformat.NotebookNode`) for a recipe, not yet written. `tables` (stream ->
    `schema.table`, from `Engine.targets`) names the tables its rows are in; without it, the ones
    the recipe names (another recipe may own those, and this one's rows be elsewhere)."""
    nbf = _nbformat()
    tables = _tables(recipe, tables)
    first = recipe.streams[0].name

    def md(cell_id: str, text: str):
        return nbf.v4.new_markdown_cell(text, id=cell_id)

    def code(cell_id: str, text: str):
        return nbf.v4.new_code_cell(text, id=cell_id)

    cells = [
        md("purelink-about", _about(recipe, tables)),
        code("purelink-load", "%load_ext purelink"),
        md("purelink-pipeline-about", "## The pipeline\n\nRunning this cell validates the recipe, saves it "
           "(a changed recipe becomes the next version), writes the pipeline module and test-runs it on a "
           "few records."),
        code(PIPELINE_CELL, f"{MAGIC} --no-run\n{_body(recipe)}"),
        md("purelink-run-about", "## Run\n\nA full run (incremental after the first), with the live monitor."),
        code("purelink-run", f"result = %purelink run {recipe.name}\nresult"),
        md("purelink-inspect-about", "## Inspect the results"),
        code("purelink-preview", f'result["{first}"].head()'),
        code("purelink-tables", "%purelink inspect --tables"),
        code("purelink-query", f'%purelink inspect --query "SELECT count(*) AS records FROM {_sql(tables[first])}"'),
    ]
    nb = nbf.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "purelink": {"format": FORMAT, "recipe": recipe.model_dump(mode="json", exclude_none=True)},
    }
    return nb


def _sql(table: str) -> str:
    """`schema.table` as SQL inside the double-quoted --query of the magic: a part that is not a plain
    name is quoted, its quotes escaped for the magic's posix split."""
    return ".".join(p if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p) else '\\"' + p.replace('"', '\\"\\"') + '\\"'
                    for p in table.split(".", 1))


def export_notebook(recipe: Recipe, path: str | os.PathLike, *,
                    workspace: str | os.PathLike | Workspace | None = None,
                    tables: dict[str, str] | None = None) -> Path:
    """Write the recipe's notebook to `path` (relative paths are taken from the workspace, when given);
    `tables` as for `notebook_for`."""
    nbf = _nbformat()
    nb = notebook_for(recipe, tables=tables)
    nbf.validate(nb)
    text = redact(nbf.writes(nb))
    target = Path(path)
    if not target.is_absolute() and workspace is not None:
        root = workspace.root if isinstance(workspace, Workspace) else Path(workspace)
        target = root / target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(target)
    return target


def import_notebook(path: str | os.PathLike) -> Recipe:
    """The recipe a purelink notebook holds.

    The pipeline cell wins over the metadata when a person edited it; the version and creation time
    come from the metadata while the content is unchanged.
    """
    nbf = _nbformat()
    try:
        nb = nbf.read(str(path), as_version=4)
    except FileNotFoundError:
        raise RecipeError(f"There is no notebook at {path}.", "Check the path.") from None
    except (nbf.reader.NotJSONError, nbf.ValidationError, ValueError, KeyError, OSError) as exc:
        raise RecipeError(f"{path} is not a readable notebook: {exc}", "Export it again with "
                          "`purelink recipes export NAME --notebook FILE`.") from None
    stored = (nb.metadata.get("purelink") or {}).get("recipe")
    meta = Recipe.model_validate(stored) if stored else None
    cell = next((c for c in nb.cells if c.cell_type == "code" and c.source.lstrip().startswith(MAGIC)), None)
    if cell is None:
        if meta is None:
            raise RecipeError(f"{path} holds no purelink recipe (no {MAGIC} cell, no metadata).",
                              "Export a recipe with `purelink recipes export NAME --notebook FILE`.")
        return meta
    body = cell.source.lstrip().split("\n", 1)[1] if "\n" in cell.source.lstrip() else ""
    recipe = parse_recipe(body, origin=f"the {MAGIC} cell of {Path(path).name}")
    if meta is not None and meta.content() == recipe.content():
        return meta
    if meta is not None:
        return recipe.model_copy(update={"version": meta.version})
    return recipe
