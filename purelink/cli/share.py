"""`purelink recipes share / import` and `recipes list --shared` (sub-actions of `recipes`).

    purelink recipes share stripe_customers [--output FILE | --to TEAM]
    purelink recipes import stripe_customers_v2.tar.gz [--credential MY_KEY] [--name NAME | --update] [--run]
    purelink recipes list --shared [--from TEAM]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from purelink.cli import add_executor, in_workspace


def add_actions(sub) -> None:
    share = sub.add_parser("share", help="write a portable bundle of the recipe (no secrets, no personal data)")
    share.add_argument("name")
    share.add_argument("--version", type=int, metavar="N", help="share version N; default the latest")
    share.add_argument("--output", type=Path, help="a .tar.gz, .zip or folder (default recipes/shared/NAME_vN.tar.gz)")
    share.add_argument("--to", metavar="TEAM", help="a team folder: a path, or a git remote (committed and pushed)")
    share.add_argument("--format", choices=["table", "json"], default="table")
    imp = sub.add_parser("import", help="bring a shared bundle into this workspace (never over a version)")
    imp.add_argument("bundle", type=Path)
    imp.add_argument("--credential", metavar="NAME", help="the secret name your key is stored under here")
    imp.add_argument("--name", help="import the recipe under this name (yours of the same name stays as it is)")
    imp.add_argument("--update", action="store_true",
                     help="when a different recipe of that name exists here: make the bundle's its next version")
    imp.add_argument("--run", action="store_true", help="run the recipe once it is imported")
    add_executor(imp, of="the one its recipe names")
    imp.add_argument("--format", choices=["table", "json"], default="table")


def add_list_options(ls) -> None:
    ls.add_argument("--shared", action="store_true", help="bundles in recipes/shared/ or a team folder")
    ls.add_argument("--from", dest="team", metavar="TEAM", help="with --shared: a team folder path or git remote")


def _share(engine, args: argparse.Namespace) -> int:
    from purelink.lifecycle.sharing import share

    where, manifest = share(engine, args.name, output=args.output, to=args.to, version=args.version)
    if args.format == "json":
        print(json.dumps({"bundle": str(where), **manifest}, indent=2))
        return 0
    keys = ", ".join(c["name"] for c in manifest["credentials"]) or "none"
    print(f"bundle   {where}")
    print(f"recipe   {manifest['name']} v{manifest['version']}  bundle content sha256 {manifest['content_sha256'][:16]}")
    print(f"keys     {keys} (by name only; the receiver uses their own)")
    for stream, cols in manifest["personal_data_dropped"].items():
        print(f"left out {stream}: {', '.join(cols)} (personal data) from the sample")
    print(f"next     purelink recipes import {where} --credential THEIR_KEY_NAME --run")
    return 0


def _import(engine, args: argparse.Namespace) -> int:
    from purelink.lifecycle.sharing import import_bundle

    done = import_bundle(engine, args.bundle, credential=args.credential, name=args.name, update=args.update)
    r = done.recipe
    if args.format == "json" and not args.run:
        print(json.dumps({"name": r.name, "version": r.version, "bundle_version": done.bundle_version,
                          "unchanged": done.unchanged, "credentials": done.credentials,
                          "content_sha256": done.content_sha256}))
        return 0
    print(f"recipe   {engine.recipes.path(r.name, r.version)} (shared as v{done.bundle_version})"
          + ("; this workspace held it already, unchanged" if done.unchanged else ""))
    for c in done.credentials:
        if not c["found"] and _terminal():
            c["found"] = _ask(c["name"])
        state = "found here" if c["found"] else f"not set: `{c['set_with']}` or export {c['or_env']}=..."
        print(f"key      {c['name']}: {state}")
    if not args.run:
        print(f"next     purelink recipes run {r.name}{in_workspace(args)}")
        return 0
    from purelink.cli.recipes import _run

    return _run(engine, argparse.Namespace(name=r.name, version=r.version, executor=args.executor,
                                           full_refresh=False, sample=None, format=args.format,
                                           workspace=getattr(args, "workspace", None)))


def _terminal() -> bool:
    import sys

    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _ask(name: str) -> bool:
    """A person is there: ask for their own key once and keep it in the vault under `name`."""
    import getpass

    from purelink.secrets.vault import Vault

    value = getpass.getpass(f"{name} (your own key; input hidden, kept in the vault; empty to skip): ").strip()
    if not value:
        return False
    Vault().set(name, value)
    return True


def list_shared(engine, args: argparse.Namespace) -> int:
    from purelink.lifecycle.sharing import shared_bundles

    rows = shared_bundles(engine, args.team)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("No shared bundles there yet. Share one: purelink recipes share NAME" +
              (f" --to {args.team}" if args.team else ""))
    for row in rows if args.format != "json" else []:
        if "problem" in row:
            print(f"{Path(row['bundle']).name:<40} unreadable: {row['problem']}")
        else:
            print(f"{Path(row['bundle']).name:<40} {row['name']} v{row['version']:<3} {row['source']:<10} "
                  f"keys: {', '.join(row['credentials']) or 'none'}")
    return 0


ACTIONS = {"share": _share, "import": _import}
