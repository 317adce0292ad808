"""Stage 1's other way in: start from a ready recipe of the library (recipes/ at the top of the
repository) instead of an empty page. The recipe's answers (source, streams, columns,
requirements, destination) become the session's, so every later stage shows them as its
defaults, and the user goes on from there: key, schema, test, run.

The wizard builds one API source at a time; the library's database recipes (several servers, a
warehouse) are copied with `purelink recipes new NAME --from LIBRARY_RECIPE` instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

from purelink.catalog import spec as specs
from purelink.catalog.library import PLACEHOLDER, library, library_recipe
from purelink.errors import SourceError
from purelink.recipes import parse_recipe
from purelink.wizard.models import SessionError

if TYPE_CHECKING:
    from purelink.wizard.session import Session


@dataclass(frozen=True)
class ReadyRecipe:
    """What a chooser shows for one ready recipe."""

    name: str
    description: str
    source: str
    streams: list[str]
    needs: list[str]  # the ${NAME}s it asks for (a shop's name, a repository)
    label: str  # "stripe_payments: Stripe customers and charges, ..."


def choices(session: Session) -> list[ReadyRecipe]:
    """The ready recipes the wizard can start from: those reading one API of the catalog."""
    found = []
    for ready in library():
        recipe = ready.recipe
        try:
            spec = specs.get_spec(recipe.source.name, session.workspace.root)
        except SourceError:  # a connector this installation lacks: not offered
            continue
        if spec.kind != "rest" or recipe.source.servers:
            continue
        found.append(ReadyRecipe(ready.name, ready.description, recipe.source.name,
                                 [s.name for s in recipe.streams], ready.placeholders,
                                 f"{ready.name}: {ready.description}"))
    return found


def start_from(session: Session, name: str, values: Mapping[str, str] | None = None) -> ReadyRecipe:
    """Answer stages 1-3 from the ready recipe `name`. `values` fill its `${NAME}`s (the
    environment too); one left unfilled stays a question of the requirements stage."""
    offered = {c.name: c for c in choices(session)}
    if name not in offered:
        library_recipe(name)  # an unknown name: the library's own error lists the ready recipes
        raise SessionError(f"The ready recipe {name} reads databases, which the wizard does not build.",
                           f"Copy it with `purelink recipes new NAME --from {name}` and run it with "
                           "`purelink recipes run NAME`.")
    ready = library_recipe(name)
    given = {**os.environ, **(values or {})}
    known = {k: v for k, v in given.items() if k in ready.placeholders and str(v).strip()}
    # an unfilled ${NAME} is dropped, so the requirements stage asks for that setting itself
    text = PLACEHOLDER.sub(lambda m: known.get(m["name"], m[0]), ready.text)
    data = yaml.safe_load(text)
    variables = {k: v for k, v in (data["source"].get("variables") or {}).items()
                 if not PLACEHOLDER.search(str(v))}
    recipe = parse_recipe(yaml.safe_dump({**data, "source": {**data["source"], "variables": variables or None}}),
                          origin=str(ready.folder / "recipe.yaml"))
    session.choose_source(recipe.source.name)
    session.choose_streams([s.name for s in recipe.streams])
    st = session.state
    st.base_url, st.variables = recipe.source.base_url, dict(recipe.source.variables or {})
    st.requirements, st.destination, st.executor = recipe.requirements, recipe.destination, recipe.executor
    st.columns = {s.name: s.columns for s in recipe.streams if s.columns}
    st.recipe_name = st.recipe_name or ready.name
    session.changed("requirements")
    return offered[name]
