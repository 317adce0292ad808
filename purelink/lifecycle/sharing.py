"""Share a recipe as a bundle, import one into another workspace, and keep a team folder of them.

    share(engine, "stripe_customers")                      # recipes/shared/stripe_customers_v2.tar.gz
    share(engine, "stripe_customers", to="git@host:team/recipes.git")   # committed and pushed
    imported = import_bundle(engine, Path("stripe_customers_v2.tar.gz"), credential="MY_STRIPE_KEY")
    shared_bundles(team="/srv/team-recipes")               # what a team folder holds

A team folder is a plain folder or a git remote. A remote is cloned into a cache under
$PURELINK_HOME/teams (pulled again on each use), and a share commits the bundle there and pushes.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from purelink.lifecycle.bundle import ARCHIVES, BundleError, build_bundle, open_bundle, write_bundle

if TYPE_CHECKING:
    from purelink.engine import Engine
    from purelink.recipes import Recipe

REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|[^/\s]+@[^:\s]+:)", re.IGNORECASE)  # https://, ssh://, git@host:


@dataclass
class Imported:
    recipe: Recipe
    bundle_version: int
    credentials: list[dict]  # name, set_with, or_env, found (bool: a value is already available here)
    content_sha256: str
    unchanged: bool = False  # this workspace held the same recipe already: nothing was written


def default_target(engine: Engine, recipe: Recipe) -> Path:
    return engine.workspace.recipes / "shared" / f"{recipe.name}_v{recipe.version}.tar.gz"


def share(engine: Engine, name: str, *, output: Path | None = None, to: str | None = None,
          version: int | None = None) -> tuple[Path, dict]:
    """Write the bundle of `name` (its latest version, or `version`); returns (where, manifest)."""
    recipe = engine.recipes.load(name, version)
    bundle = build_bundle(engine, recipe)
    try:
        folder = team_folder(to) if to is not None else None
        target = (folder / (output.name if output else default_target(engine, recipe).name) if folder
                  else output or default_target(engine, recipe))
        if target.exists() and _same(target, bundle.manifest):
            return target, bundle.manifest  # shared before, unchanged: nothing to write or push
        written = write_bundle(bundle, target)
        if target.parent == default_target(engine, recipe).parent:
            _ignore_bundles(engine.workspace.root)
        if to is not None and _is_git(to):
            _publish(folder, written, recipe)
        return written, bundle.manifest
    finally:
        bundle.close()


def _ignore_bundles(root: Path) -> None:
    """A bundle is built from the recipe's committed version, so the workspace's history keeps it
    out (recipes/shared/ is in its .gitignore) rather than showing it as an untracked file."""
    from purelink.lifecycle.history import ensure_ignores, repository

    if repository(root) is not None:
        ensure_ignores(root)


def _same(target: Path, manifest: dict) -> bool:
    """`target` is already this bundle (same files); anything else there is never written over."""
    try:
        existing = open_bundle(target)
    except BundleError:
        return False
    try:
        return existing.manifest.get("content_sha256") == manifest["content_sha256"]
    finally:
        existing.close()


def import_bundle(engine: Engine, path: Path, *, credential: str | None = None, name: str | None = None,
                  update: bool = False) -> Imported:
    """Save the bundle's recipe here (as `name`, if given), with its module, schema and sample;
    `credential` renames the secret it reads to the receiver's. A recipe of that name here that
    differs is never replaced silently: `update` makes the bundle's its next version (the earlier
    ones stay, for `--version`); otherwise RecipeError says how to choose."""
    from purelink.engine import resolve_credentials
    from purelink.errors import PurelinkError, RecipeError
    from purelink.lifecycle.bundle import credentials_needed
    from purelink.recipes import Recipe
    from purelink.secrets.secret import check_secret_name

    bundle = open_bundle(path)
    try:
        recipe = bundle.recipe()
        if not recipe.recorded(bundle.manifest.get("recipe_sha256")):
            raise BundleError(f"{path}: the recipe does not match its manifest.", "Ask the sender to share it again.")
        if credential:
            recipe = recipe.model_copy(update={"source": recipe.source.model_copy(
                update={"credential": check_secret_name(credential)})})
        if name:
            recipe = Recipe.model_validate({**recipe.model_dump(), "name": name})
        engine.spec(recipe)  # an unknown source fails here, before anything is written
        versions = engine.recipes.versions(recipe.name)
        latest = engine.recipes.load(recipe.name) if versions else None
        if latest is not None and latest.content() != recipe.content() and not update:
            streams = ", ".join(s.name for s in recipe.streams)
            raise RecipeError(
                f"A recipe named {recipe.name} exists here (v{latest.version}) and the bundle holds a different "
                f"one ({recipe.source.name}: {streams}).",
                f"To keep yours, import it under another name: --name NEW_NAME. To make the bundle's "
                f"{recipe.name} v{versions[-1] + 1} (yours stays as v{latest.version}), add --update.")
        sent = bundle.manifest
        saved = engine.recipes.save(recipe, origin=f"imported from {path.name} ({sent['name']} v{sent['version']}, "
                                                   f"shared {str(sent.get('created_at', '?'))[:10]})")
        engine.generate(saved)
        _keep_files(engine, bundle.root, saved)
        needed = credentials_needed(engine, saved)
        for item in needed:
            try:
                resolve_credentials(saved, engine.spec(saved), interactive=False)
                item["found"] = True
            except PurelinkError:
                item["found"] = False
        return Imported(saved, int(bundle.manifest["version"]), needed, bundle.manifest["content_sha256"],
                        unchanged=latest is not None and saved.version == latest.version)
    finally:
        bundle.close()


def _keep_files(engine: Engine, root: Path, recipe: Recipe) -> None:
    """The bundle's schema and sample become the workspace's own, where it has none of them yet."""
    source = engine.spec(recipe).name
    for folder, target, suffix in (("schema", engine.workspace.schemas, ".sql"),
                                   ("sample", engine.workspace.samples, "_preview.json")):
        for f in sorted((root / folder).glob("*")):
            dest = target / f"{source}_{f.stem}{suffix}"
            if not dest.exists():
                target.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest)


# -- team folders ----------------------------------------------------------------------------------
def _is_git(team: str) -> bool:
    if REMOTE.match(team):
        return True
    p = Path(team).expanduser()
    return p.is_dir() and ((p / ".git").exists() or ((p / "HEAD").is_file() and (p / "objects").is_dir()))


def team_folder(team: str) -> Path:
    """A local folder holding the team's bundles: the path itself, or the remote's cached clone."""
    if not _is_git(team):
        folder = Path(team).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    from purelink.lifecycle.history import git
    from purelink.secrets.secret import purelink_home

    cache = purelink_home() / "teams" / hashlib.sha256(team.encode()).hexdigest()[:16]
    if (cache / ".git").exists():
        if git(cache, "rev-parse", "--verify", "HEAD", check=False).returncode == 0:
            git(cache, "pull", "-q", "--ff-only")
    else:
        cache.parent.mkdir(parents=True, exist_ok=True)
        git(cache.parent, "clone", "-q", team, str(cache))
    return cache


def _publish(folder: Path, written: Path, recipe: Recipe) -> None:
    from purelink.lifecycle.history import git

    git(folder, "add", "--", written.name)
    git(folder, "commit", "-q", "-m", f"share {recipe.name} v{recipe.version}", "--", written.name)
    branch = git(folder, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    git(folder, "push", "-q", "origin", f"HEAD:{branch}")


def shared_bundles(engine: Engine, team: str | None = None) -> list[dict]:
    """Bundles in the workspace's recipes/shared/ or in a team folder, from their manifests."""
    folder = team_folder(team) if team else engine.workspace.recipes / "shared"
    rows = []
    if not folder.is_dir():
        return rows
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not (path.is_dir() or path.name.endswith(ARCHIVES)):
            continue
        try:
            bundle = open_bundle(path)
        except BundleError as exc:
            rows.append({"bundle": str(path), "problem": exc.message})
            continue
        try:
            m = bundle.manifest
            rows.append({"bundle": str(path), "name": m["name"], "version": m["version"], "source": m["source"],
                         "streams": m["streams"], "purelink_version": m["purelink_version"],
                         "content_sha256": m["content_sha256"],
                         "credentials": [c["name"] for c in m.get("credentials", [])]})
        finally:
            bundle.close()
    return rows

