"""The share bundle: one recipe version as a portable folder or a single .tar.gz / .zip file.

A bundle and a library recipe are the same kind of thing (docs/bundles.md describes the format):

    stripe_customers_v2/
      manifest.json          format, recipe name and version, purelink version, hashes, credentials
      recipe.yaml            the recipe at that version; credentials by name only
      pipeline.py            the module generated from it
      schema/<stream>.sql    the DDL of each table it creates
      sample/<stream>.json   a few records, without the columns the probe flags as personal data
      notebook.ipynb         the `%purelink export` view of the same recipe version
      README.md              what it loads, the keys it needs by name, how to run it

    bundle = build_bundle(engine, recipe)        # a BuiltBundle in a temporary folder
    write_bundle(bundle, Path("x.tar.gz"))       # or .zip, or a folder
    opened = open_bundle(Path("x.tar.gz"))       # checked: hashes, format, no path escapes
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from purelink.errors import PurelinkError

if TYPE_CHECKING:
    from purelink.engine import Engine
    from purelink.recipes import Recipe

FORMAT = "purelink-bundle/1"
MANIFEST = "manifest.json"
SAMPLE_ROWS = 5
ARCHIVES = (".tar.gz", ".tgz", ".zip")


class BundleError(PurelinkError):
    pass


@dataclass
class Bundle:
    """A bundle's files in a folder (`root`), with its manifest."""

    root: Path
    manifest: dict = field(default_factory=dict)
    cleanup: tempfile.TemporaryDirectory | None = None

    @property
    def recipe_text(self) -> str:
        return (self.root / "recipe.yaml").read_text()

    def recipe(self) -> Recipe:
        from purelink.recipes import parse_recipe

        return parse_recipe(self.recipe_text, origin=f"the bundle's recipe.yaml ({self.root.name})")

    def close(self) -> None:
        if self.cleanup is not None:
            self.cleanup.cleanup()


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file but the manifest, by its path relative to `root` (posix, sorted)."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel != MANIFEST:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def content_hash(hashes: dict[str, str]) -> str:
    """One hash for the bundle's content: of the sorted "sha256  path" lines (as sha256sum prints)."""
    lines = "".join(f"{digest}  {rel}\n" for rel, digest in sorted(hashes.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def module_text(engine: Engine, recipe: Recipe) -> str:
    """The module generated from exactly this version, without touching the workspace's own
    pipelines/NAME.py (which belongs to the version the workspace runs)."""
    spec = engine.spec(recipe)
    if spec.kind == "database":
        from purelink.pipeline.codegen_sql import render as render_sql

        return render_sql(recipe, spec)
    from purelink.pipeline.codegen import render

    return render(recipe, spec)


def where_rows_are(engine: Engine, recipe: Recipe) -> dict[str, str] | None:
    """stream -> the table its rows are in (a second recipe on a source loads into a table of its
    own); None when that cannot be read here now (a database server not reached, a file being written)."""
    from purelink.runtime.errors import RuntimeFailure

    try:
        return engine.targets(recipe)
    except (RuntimeFailure, NotImplementedError):
        return None


def credentials_needed(engine: Engine, recipe: Recipe) -> list[dict]:
    """The secrets a run of the recipe reads, by name, with how a receiver sets each."""
    from purelink.pipeline.codegen import credential_name

    spec = engine.spec(recipe)
    names: list[str] = []
    if spec.auth.style != "none" and spec.kind == "rest":
        names.append(credential_name(recipe, spec))
        if spec.auth.password_env:  # Basic with a password of its own (Twilio's auth token)
            names.append(spec.auth.password_env)
    for server in recipe.source.servers or []:
        names.append(server.credential or recipe.source.credential or f"{server.name}_password")
    if spec.kind == "database" and not recipe.source.servers:
        names.append(recipe.source.credential or f"{recipe.name}_password")
    if recipe.destination.kind == "postgres" and recipe.destination.credential:
        names.append(recipe.destination.credential)
    return [{"name": n, "set_with": f"purelink secrets set {n}", "or_env": n} for n in dict.fromkeys(names)]


def build_bundle(engine: Engine, recipe: Recipe) -> Bundle:
    """The bundle of `recipe` in a fresh temporary folder. Refuses when any file would hold a
    secret value this process knows (the recipe's own key is looked up, without asking, to check)."""
    import purelink
    from purelink.lifecycle.samples import stream_sample
    from purelink.pipeline.notebook import export_notebook

    tmp = tempfile.TemporaryDirectory(prefix="purelink-bundle-")
    root = Path(tmp.name) / recipe.filename.removesuffix(".yaml")
    (root / "schema").mkdir(parents=True)
    (root / "sample").mkdir()
    (root / "recipe.yaml").write_text(recipe.to_yaml())
    (root / "pipeline.py").write_text(module_text(engine, recipe))
    tables = where_rows_are(engine, recipe)
    export_notebook(recipe, root / "notebook.ipynb", tables=tables)
    dropped: dict[str, list[str]] = {}
    for stream in recipe.streams:
        sample = stream_sample(engine, recipe, stream, rows=SAMPLE_ROWS)
        stem = stream.name.replace(".", "_").replace("/", "_")
        (root / "sample" / f"{stem}.json").write_text(json.dumps(sample.records, indent=2, default=str) + "\n")
        if sample.ddl:
            (root / "schema" / f"{stem}.sql").write_text(sample.ddl)
        if sample.dropped:
            dropped[stream.name] = sample.dropped
    credentials = credentials_needed(engine, recipe)
    (root / "README.md").write_text(readme(recipe, credentials, dropped, tables=tables))
    _refuse_secrets(engine, recipe, root)
    hashes = file_hashes(root)
    manifest = {
        "format": FORMAT, "name": recipe.name, "version": recipe.version, "description": recipe.description,
        "source": recipe.source.name, "streams": [s.name for s in recipe.streams],
        "frequency": recipe.requirements.frequency, "purelink_version": purelink.__version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "recipe_sha256": recipe.digest(), "content_sha256": content_hash(hashes), "files": hashes,
        "credentials": credentials, "personal_data_dropped": dropped,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return Bundle(root, manifest, tmp)


def _refuse_secrets(engine: Engine, recipe: Recipe, root: Path) -> None:
    from purelink.engine import resolve_credentials
    from purelink.secrets.redact import contains_secret

    try:  # registers the recipe's own key for redaction, so a copy of it anywhere is found below
        resolve_credentials(recipe, engine.spec(recipe), interactive=False)
    except PurelinkError:
        pass  # no key here: nothing of it can be in the files either
    leaking = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*"))
               if p.is_file() and contains_secret(p.read_bytes())]
    if leaking:
        raise BundleError(f"The bundle of {recipe.name} would hold a secret value (in {', '.join(leaking)}), "
                          "so it was not written.",
                          "Remove the key from those files (a pasted key in the recipe or in sampled data), "
                          "keep it in the vault (`purelink secrets set NAME`), and share again.")


def readme(recipe: Recipe, credentials: list[dict], dropped: dict[str, list[str]], *,
           tables: dict[str, str] | None = None) -> str:
    """`tables`: stream -> the `schema.table` its rows are in (Engine.targets), named with each stream."""
    cols = [f"- `{s.name}`" + (f" into `{tables[s.name]}`" if tables and s.name in tables else "") + ": "
            + (", ".join(s.columns) if s.columns else "all columns") for s in recipe.streams]
    where = (f"DuckDB ({recipe.destination.path or 'data/purelink.duckdb'})" if recipe.destination.kind == "duckdb"
             else "PostgreSQL")
    keys = [f"- `{c['name']}`: `purelink secrets set {c['name']}`"
            + (f", or the environment variable `{c['name']}`" if c["name"].isupper() else "")
            for c in credentials] or ["- none"]
    kept_out = [f"- `{stream}`: {', '.join(cols_)}" for stream, cols_ in dropped.items()] or ["- none flagged"]
    bundle = f"{recipe.name}_v{recipe.version}.tar.gz"
    return "\n".join([
        f"# {recipe.name} v{recipe.version}", "",
        recipe.description or f"Loads {recipe.source.name} into {where}.", "",
        f"Source `{recipe.source.name}`; schedule: {recipe.requirements.frequency}; loads into {where}. Streams:",
        *cols, "", "## Keys it needs (by name; no value is in this bundle)", *keys,
        "Use your own key: `--credential NAME` on import stores the recipe under the secret name you chose.", "",
        "## Run it", "Import it and run it once (add `--credential NAME` to use a key of your own):", "```",
        f"purelink recipes import {bundle} --run", "```", "Every later run:", "```",
        f"purelink recipes run {recipe.name}", "```", "",
        "## Left out of the sample (personal data flagged by the probe)", *kept_out, "",
        f"Recipe content sha256 `{recipe.digest()}`; the file hashes are in manifest.json.", ""])


def write_bundle(bundle: Bundle, target: Path) -> Path:
    """Write to `target`: a .tar.gz/.tgz or .zip file, else a folder (which must not exist yet)."""
    target = Path(target)
    if target.exists():
        raise BundleError(f"{target} exists already; a bundle is never written over another.",
                          "Choose another --output, or remove the old one first.")
    target.parent.mkdir(parents=True, exist_ok=True)
    name = target.name
    tmp = target.with_name(f".{name}.tmp")
    top = bundle.root.name
    files = sorted(p for p in bundle.root.rglob("*") if p.is_file())
    if name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(tmp, "w:gz") as tar:
            for p in files:
                tar.add(p, arcname=f"{top}/{p.relative_to(bundle.root).as_posix()}")
    elif name.endswith(".zip"):
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files:
                zf.write(p, f"{top}/{p.relative_to(bundle.root).as_posix()}")
    else:
        shutil.copytree(bundle.root, tmp)
    tmp.replace(target)
    return target


def open_bundle(path: Path) -> Bundle:
    """A bundle from a folder or an archive, checked against its manifest's hashes."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"There is no bundle at {path}.", "Check the path; `purelink recipes list --shared` "
                          "lists the bundles of a team folder.")
    tmp = None
    if path.is_dir():
        root = path
    else:
        tmp = tempfile.TemporaryDirectory(prefix="purelink-import-")
        _extract(path, Path(tmp.name))
        root = _top(Path(tmp.name))
    bundle = Bundle(root, {}, tmp)
    try:
        bundle.manifest = _checked_manifest(root, path)
    except BaseException:
        bundle.close()
        raise
    return bundle


def _extract(path: Path, into: Path) -> None:
    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    target = (into / member).resolve()
                    if not target.is_relative_to(into.resolve()):
                        raise BundleError(f"{path} holds a path outside the bundle ({member}).",
                                          "Ask the sender for a bundle written by `purelink recipes share`.")
                zf.extractall(into)
        else:
            with tarfile.open(path) as tar:
                tar.extractall(into, filter="data")  # refuses links and paths that leave the folder
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{path} is not a readable bundle ({exc}).",
                          "A bundle is a folder, a .tar.gz or a .zip written by `purelink recipes share`.") from None


def _top(folder: Path) -> Path:
    if (folder / MANIFEST).exists():
        return folder
    inner = [p for p in folder.iterdir() if p.is_dir()]
    if len(inner) == 1 and (inner[0] / MANIFEST).exists():
        return inner[0]
    raise BundleError(f"{folder.name} holds no {MANIFEST}.", "A bundle is written by `purelink recipes share`.")


def _checked_manifest(root: Path, origin: Path) -> dict:
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{origin} has no readable {MANIFEST} ({exc}).",
                          "A bundle is written by `purelink recipes share`.") from None
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{origin} is in format {manifest.get('format')!r}; this purelink reads {FORMAT}.",
                          "Update purelink, or ask the sender to share it again.")
    hashes = file_hashes(root)
    if hashes != manifest.get("files") or content_hash(hashes) != manifest.get("content_sha256"):
        changed = sorted(k for k in set(hashes) | set(manifest.get("files") or {})
                         if hashes.get(k) != (manifest.get("files") or {}).get(k))
        raise BundleError(f"{origin} was changed after it was shared ({', '.join(changed) or 'content hash'}).",
                          "Ask the sender for a fresh bundle: a bundle is imported only as it was written.")
    return manifest
