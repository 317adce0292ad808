"""Recipe history in git: every new recipe version is one commit of its recipe, module, schema and sample.

The workspace is a git repository (made on the first recipe when it is not inside one). Git runs as
a subprocess; when the user has no identity configured, commits are made as "Purelink". Only the
recipe's own files are added, never data/, logs/ or anything that holds a secret value.

    commit_version(workspace, recipe, previous)   # called by RecipeStore.save after writing vN
    version_commits(workspace, "stripe_customers")  # {1: Commit(...), 2: ...}
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from purelink.errors import PurelinkError

if TYPE_CHECKING:
    from purelink.recipes import Recipe, RecipeStore
    from purelink.workspace import Workspace

IDENTITY = ("Purelink", "purelink@localhost")
# Data and logs are rebuilt by runs; keys, vaults and env files must never reach a commit; the
# recipes' own copies (recipes/.history, kept to undo a hand edit) and an earlier version's module
# (pipelines/versions, written for a run with --version) are what git already holds.
IGNORED = ["data/", "logs/", "*.duckdb", "*.duckdb.wal", ".scratch_*", ".env", ".env.*", "*.key", "*.pem",
           ".purelink/", "recipes/.history/", "recipes/shared/", "pipelines/versions/", "vault/", "*.vault", "*.tmp", "__pycache__/", ".ipynb_checkpoints/"]
# A git started from a hook or by a tool may carry these; they would point our commands elsewhere.
GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_PREFIX")


class HistoryError(PurelinkError):
    pass


@dataclass(frozen=True)
class Commit:
    sha: str
    date: str
    message: str


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run git in `root`; with a fixed identity when the user has none configured."""
    if shutil.which("git") is None:
        raise HistoryError("git is not installed, so recipe versions are not committed.",
                           "Install git (apt-get install -y git) to keep the history of your recipes.")
    env = {k: v for k, v in os.environ.items() if k not in GIT_ENV}
    identity: list[str] = []
    if args and args[0] == "commit":
        known = subprocess.run(["git", "config", "user.email"], check=False, cwd=root, env=env, capture_output=True, text=True)
        if not known.stdout.strip():
            identity = ["-c", f"user.name={IDENTITY[0]}", "-c", f"user.email={IDENTITY[1]}"]
    proc = subprocess.run(["git", *identity, *args], check=False, cwd=root, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise HistoryError(f"git {args[0]} failed in {root}: {proc.stderr.strip() or proc.stdout.strip()}",
                           "Check the workspace's repository with `git status`; the recipe file itself is saved.")
    return proc


def repository(root: Path, *, create: bool = False) -> Path | None:
    """The top of the git repository holding `root`; made at `root` when asked and there is none."""
    if shutil.which("git") is None:
        return None
    proc = git(root, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode == 0:
        return Path(proc.stdout.strip())
    if not create:
        return None
    git(root, "init", "-q")
    return root


def ensure_ignores(root: Path) -> Path:
    """Write or complete the workspace's .gitignore, keeping lines the user added."""
    path = root / ".gitignore"
    lines = path.read_text().splitlines() if path.exists() else []
    missing = [p for p in IGNORED if p not in lines]
    if missing:
        head = ["# purelink: data, logs and secrets stay out of the history"] if not lines else []
        path.write_text("\n".join([*lines, *head, *missing]) + "\n")
    return path


def recipe_files(workspace: Workspace, recipe: Recipe, source: str) -> list[Path]:
    """The files that make this version: recipe, module, and each stream's schema and sample."""
    files = [workspace.recipes / recipe.filename, workspace.pipelines / f"{recipe.name}.py",
             workspace.schemas / f"{recipe.name}.sql", workspace.samples / f"{recipe.name}_preview.json"]
    for stream in recipe.streams:
        stem = f"{source}_{stream.name}".replace(".", "_")
        files += [workspace.schemas / f"{stem}.sql", workspace.samples / f"{stem}_preview.json"]
    return [f for f in dict.fromkeys(files) if f.is_file()]


def describe_change(previous: Recipe | None, recipe: Recipe) -> str:
    """One line for the commit: "stripe_customers v2: columns -phone; frequency daily"."""
    head = f"{recipe.name} v{recipe.version}"
    if previous is None:
        return f"{head}: new recipe ({recipe.source.name}: {', '.join(s.name for s in recipe.streams)})"
    parts = _stream_changes(previous, recipe)
    old, new = _flat(previous.content()), _flat(recipe.content())
    for key in sorted(set(old) | set(new)):
        if key.startswith("streams") or old.get(key) == new.get(key):
            continue
        label = key.removeprefix("requirements.")
        parts.append(f"{label} {new[key]}" if new.get(key) is not None else f"{label} unset")
    if not parts and previous.version != recipe.version:
        parts.append("edited")
    return f"{head}: " + "; ".join(parts or ["no change"])


def _stream_changes(previous: Recipe, recipe: Recipe) -> list[str]:
    before = {s.name: s for s in previous.streams}
    after = {s.name: s for s in recipe.streams}
    parts = []
    added, removed = [n for n in after if n not in before], [n for n in before if n not in after]
    if added or removed:
        parts.append("streams " + " ".join([*(f"+{n}" for n in added), *(f"-{n}" for n in removed)]))
    single = len(after) == 1
    for name in (n for n in after if n in before):
        old, new = before[name], after[name]
        where = "" if single else f" of {name}"
        if old.columns != new.columns:
            if old.columns is None or new.columns is None:
                parts.append(f"columns{where} " + ("all" if new.columns is None else ",".join(new.columns)))
            else:
                delta = [f"+{c}" for c in new.columns if c not in old.columns]
                delta += [f"-{c}" for c in old.columns if c not in new.columns]
                parts.append(f"columns{where} " + (" ".join(delta) or "reordered"))
        rest_old, rest_new = _flat(old.model_dump(exclude={"columns"}, mode="json")), \
            _flat(new.model_dump(exclude={"columns"}, mode="json"))
        for key in sorted(set(rest_old) | set(rest_new)):
            if rest_old.get(key) != rest_new.get(key):
                parts.append(f"{key}{where} {rest_new.get(key)}")
    return parts


def _flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = ",".join(map(str, value)) if isinstance(value, list) and key != "streams" \
                and all(not isinstance(v, dict) for v in value) else value
    return out


def _without_secrets(files: list[Path]) -> list[Path]:
    """Drop any file that holds a secret value in use by this process (a pasted key, a password)."""
    from purelink.secrets.redact import contains_secret

    kept = []
    for f in files:
        if contains_secret(f.read_bytes()):
            print(f"warning: {f.name} holds a secret value, so it is left out of the recipe history",
                  file=sys.stderr)
        else:
            kept.append(f)
    return kept


def record_version(store: RecipeStore, recipe: Recipe, origin: str | None = None) -> str | None:
    """The hook RecipeStore.save calls after writing a new version: commit it against the one before."""
    older = [v for v in store.versions(recipe.name) if v < recipe.version]
    previous = store.load(recipe.name, older[-1]) if older else None
    return commit_version(store.workspace, recipe, previous, origin)


def commit_version(workspace: Workspace, recipe: Recipe, previous: Recipe | None,
                   origin: str | None = None) -> str | None:
    """Commit a freshly written version with its module, schema and sample; returns the commit sha.
    `origin` (where the version came from, such as a bundle) ends the message.

    Never fails the save: a missing git or a refused commit becomes one warning line."""
    try:
        return _commit(workspace, recipe, previous, origin)
    except HistoryError as exc:
        print(f"warning: {exc.message} {exc.guidance or ''}".rstrip(), file=sys.stderr)
        return None


def _commit(workspace: Workspace, recipe: Recipe, previous: Recipe | None, origin: str | None) -> str | None:
    root = workspace.root
    existed = repository(root) is not None
    top = repository(root, create=True)
    if top is None:
        raise HistoryError("git is not installed, so recipe versions are not committed.",
                           "Install git (apt-get install -y git) to keep the history of your recipes.")
    ignore = ensure_ignores(root)
    if not existed:
        _adopt(workspace, keep_for_later=workspace.recipes / recipe.filename)
    source = recipe.source.name
    try:
        _generate_module(workspace, recipe)
        from purelink.catalog.spec import get_spec

        source = get_spec(recipe.source.name, workspace=root).name
    except PurelinkError:
        pass  # an unknown source still gets its recipe committed; the module follows on its first run
    files = _without_secrets(recipe_files(workspace, recipe, source)) + [ignore]
    paths = [os.path.relpath(f, root) for f in files]
    ignored = git(root, "check-ignore", "--", *paths, check=False).stdout.split()
    paths = [p for p in paths if p not in ignored]
    git(root, "add", "--", *paths)
    if not git(root, "diff", "--cached", "--quiet", "--", *paths, check=False).returncode:
        return None  # nothing new to record (the same files were committed already)
    # `--only` commits exactly these paths, leaving anything else the user staged alone.
    message = describe_change(previous, recipe) + (f"; {origin}" if origin else "")
    git(root, "commit", "-q", "--only", "-m", message, "--", *paths)
    return git(root, "rev-parse", "HEAD").stdout.strip()


def _adopt(workspace: Workspace, *, keep_for_later: Path) -> None:
    """A workspace made before it had history: its earlier recipes become the first commit, so the
    new version's commit shows what changed rather than everything."""
    root = workspace.root
    names = sorted({p.name.rsplit("_v", 1)[0] for p in workspace.recipes.glob("*_v*.yaml") if p != keep_for_later})
    if not names:
        return  # a new workspace: the probe's schema and sample belong to the first version's commit
    earlier = [f for folder in (workspace.recipes, workspace.pipelines, workspace.schemas, workspace.samples)
               for f in sorted(folder.glob("*")) if f.is_file() and f != keep_for_later and f.suffix != ".tmp"]
    paths = [os.path.relpath(f, root) for f in _without_secrets(earlier)]
    git(root, "add", "--", *paths, ".gitignore")
    git(root, "commit", "-q", "--only", "-m", f"recipes before history began: {', '.join(names)}",
        "--", *paths, ".gitignore")


def _generate_module(workspace: Workspace, recipe: Recipe) -> Path:
    from purelink.engine import Engine

    return Engine(workspace).generate(recipe)


def version_commits(workspace: Workspace, name: str) -> dict[int, Commit]:
    """The commit that added each version's recipe file, by version (also for files adopted from
    before history began, whose commit message names no version)."""
    root = workspace.root
    if repository(root) is None:
        return {}
    proc = git(root, "log", "--diff-filter=A", "--format=%x00%H%x09%cI%x09%s", "--name-only", "--relative",
               "--", f"recipes/{name}_v*.yaml", check=False)
    found: dict[int, Commit] = {}
    for block in proc.stdout.split("\0")[1:]:
        head, *files = block.strip().splitlines()
        sha, date, subject = head.split("\t", 2)
        for file in files:
            m = re.match(rf"^recipes/{re.escape(name)}_v(\d+)\.yaml$", file.strip())
            if m:
                found.setdefault(int(m[1]), Commit(sha, date, subject))
    return found


def file_at(workspace: Workspace, commit: Commit, path: Path) -> str | None:
    """A file's text as that commit left it (a module of an older version), or None."""
    rel = Path(os.path.relpath(workspace.root / path, workspace.root)).as_posix()
    proc = git(workspace.root, "show", f"{commit.sha}:./{rel}", check=False)
    return proc.stdout if proc.returncode == 0 else None
