"""The library of ready recipes shipped at the top of the repository: `recipes/<name>/`.

Each holds `recipe.yaml`, in exactly the format and version (v1) of a user's own recipe, and a
one-paragraph `README.md` (what it loads, the keys it needs, the rows a run against the sandbox
gives). A shared recipe bundle carries the same two files, so whatever reads one reads the other.
What differs from a particular setup is written `${NAME}` (a host, a shop's name): it is filled in
when the recipe is copied into a workspace (`purelink recipes new NAME --from LIBRARY_RECIPE`).

    for ready in library():
        print(ready.name, ready.description)
    text = library_recipe("stripe_payments").filled({})
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from purelink.errors import RecipeError
from purelink.recipes import NAME, Recipe, parse_recipe
from purelink.shipped import shipped

PLACEHOLDER = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")
RECIPE_FILE = "recipe.yaml"
README_FILE = "README.md"


@dataclass(frozen=True)
class LibraryRecipe:
    """One ready recipe: its folder, the recipe it holds and what its README says."""

    folder: Path

    @property
    def name(self) -> str:
        return self.folder.name

    @cached_property
    def text(self) -> str:
        return (self.folder / RECIPE_FILE).read_text()

    @cached_property
    def readme(self) -> str:
        return (self.folder / README_FILE).read_text()

    @cached_property
    def recipe(self) -> Recipe:
        """The recipe as shipped, placeholders still in place (they are plain strings to the model)."""
        return parse_recipe(self.text, origin=str(self.folder / RECIPE_FILE))

    @property
    def description(self) -> str:
        return self.recipe.description

    @property
    def placeholders(self) -> list[str]:
        """The `${NAME}`s to fill in, in the order they first appear."""
        return list(dict.fromkeys(m["name"] for m in PLACEHOLDER.finditer(self.text)))

    def filled(self, values: Mapping[str, str]) -> str:
        """The recipe's text with each `${NAME}` replaced by `values[NAME]`; a missing one is an
        error that names them all and says how to give them."""
        missing = [name for name in self.placeholders if not str(values.get(name, "")).strip()]
        if missing:
            example = " ".join(f"--var {name}=..." for name in missing)
            raise RecipeError(f"The library recipe {self.name} needs a value for {', '.join(missing)}.",
                              f"Give each on the command line ({example}) or set it as an environment "
                              f"variable; {self.folder / README_FILE} says what each one is.")
        return PLACEHOLDER.sub(lambda m: str(values[m["name"]]), self.text)


def library(root: Path | None = None) -> list[LibraryRecipe]:
    """Every ready recipe, by name. `root` is for tests; by default the shipped `recipes/`."""
    folder = root or shipped("recipes")
    if not folder.is_dir():
        return []
    return [LibraryRecipe(path) for path in sorted(folder.iterdir())
            if path.is_dir() and NAME.match(path.name) and (path / RECIPE_FILE).is_file()]


def library_recipe(name: str, root: Path | None = None) -> LibraryRecipe:
    found = {ready.name: ready for ready in library(root)}
    if name not in found:
        raise RecipeError(f"There is no ready recipe named {name!r} in the library.",
                          f"Ready recipes: {', '.join(found) or 'none shipped'}. "
                          "See them with `purelink recipes list --library`.")
    return found[name]
