"""`purelink recipes list --library` and `purelink recipes new NAME --from LIBRARY_RECIPE`: the ready
recipes shipped in `recipes/` at the top of the repository (purelink/catalog/library.py)."""

from __future__ import annotations

import json
import os

import yaml

from purelink.catalog.library import library, library_recipe
from purelink.cli import in_workspace
from purelink.errors import RecipeError
from purelink.recipes import Recipe, data_folder, parse_recipe


def list_library(args) -> int:
    rows = [{"name": ready.name, "description": ready.description, "source": ready.recipe.source.name,
             "streams": [ready.recipe.stream_id(s) for s in ready.recipe.streams],
             "needs": ready.placeholders, "readme": str(ready.folder / "README.md")} for ready in library()]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("No ready recipes are shipped with this installation.")
    else:
        for row in rows:
            print(f"{row['name']:<28} {row['description']}")
        print("\ncopy one: purelink recipes new NAME --from LIBRARY_RECIPE  (its README.md says what it needs)")
    return 0


def new_from_library(engine, args) -> int:
    """Copy a ready recipe into the workspace as the user's recipe NAME v1, with the options given
    on the command line applied on top, and say which keys it needs and whether they are set.
    With --update, NAME exists and the copy becomes its next version (none when nothing changed)."""
    from purelink.cli.recipes import _password_to_vault, _settings

    ready = library_recipe(args.from_library)
    versions = engine.recipes.versions(args.name)
    if versions and not args.update:
        raise RecipeError(f"A recipe named {args.name} exists already in {engine.workspace.recipes} "
                          f"(v{versions[-1]}).",
                          f"To write v{versions[-1] + 1} from the library recipe {ready.name}, add --update "
                          f"(v{versions[-1]} stays as it is); to keep both, choose another name, e.g. "
                          f"`purelink recipes new my_{ready.name} --from {ready.name}`.")
    if args.update and not versions:
        raise RecipeError(f"There is no recipe {args.name} to update.", "Leave out --update to create it.")
    values = dict(os.environ)
    kept = []
    for item in args.var or []:  # a --var naming a ${PLACEHOLDER} fills it; the others are source settings
        name, _, value = item.partition("=")
        if name in ready.placeholders:
            values[name] = value
        else:
            kept.append(item)
    args.var = kept
    data = yaml.safe_load(ready.filled(values))
    data = {k: v for k, v in data.items() if k not in ("version", "created_at")}
    data["name"] = args.name
    _password_to_vault(args)
    data = _settings(args, engine.workspace.root, data)
    recipe = parse_recipe(yaml.safe_dump(data, sort_keys=False), origin=f"the library recipe {ready.name}")
    if recipe.destination.kind == "duckdb":
        data_folder(engine.workspace, engine.db_path(recipe))
    recipe = engine.recipes.save(recipe)  # unchanged from the latest version: that version is kept
    module = engine.generate(recipe)
    keys = needed_keys(engine, recipe)
    path = engine.recipes.path(recipe.name, recipe.version)
    if args.format == "json":
        print(json.dumps({"name": recipe.name, "version": recipe.version, "recipe": str(path), "module": str(module),
                          "from": ready.name, "keys": keys}))
        return 0
    same = " unchanged" if versions and recipe.version == versions[-1] else ""
    print(f"recipe  {path}{same}  (from the library recipe {ready.name})")
    print(f"module  {module}")
    for key in keys:
        state = "set" if key["set"] else f"not set: `purelink secrets set {key['name']}` or export {key['name']}=..."
        print(f"key     {key['name']:<24} {state}")
    print(f"next    purelink recipes run {recipe.name}{in_workspace(args)}")
    return 0


def needed_keys(engine, recipe: Recipe) -> list[dict]:
    """The secrets a run of `recipe` reads, by name, and whether each is found (environment or vault)
    now; never their values."""
    from purelink.catalog.spec import get_spec
    from purelink.pipeline.codegen import credential_name
    from purelink.pipeline.codegen_sql import WAREHOUSE_SECRET
    from purelink.secrets.vault import Vault

    spec = get_spec(recipe.source.name, engine.workspace)
    names = [credential_name(recipe, spec)]
    names += [s.credential for s in recipe.source.servers or [] if s.credential]
    if recipe.source.servers and all(s.credential for s in recipe.source.servers):
        names = names[1:]  # every server names its own: the source's is not read
    if recipe.destination.kind == "postgres":
        names.append(recipe.destination.credential or WAREHOUSE_SECRET)
    vault = Vault()
    return [{"name": n, "set": bool(os.environ.get(n, "").strip()) or n in vault} for n in dict.fromkeys(names)]


