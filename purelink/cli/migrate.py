"""`purelink migrate --from URL --to URL`: copy a workspace's data to another store, verified.

Every table, `_purelink`'s bookkeeping and each stream's state move, so the next incremental run
against the new store continues where the last one stopped; each table's row count and checksum
are compared between both stores, and a difference fails the command.
"""

from __future__ import annotations

import argparse
import json

from purelink.workspace import Workspace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", metavar="URL", default=None,
                        help="the store to copy (default duckdb:data/purelink.duckdb in the workspace)")
    parser.add_argument("--to", dest="target", metavar="URL", required=True,
                        help="the store to copy into: postgresql://USER@HOST:PORT/DB, duckdb:PATH, md:DB, ...")
    parser.add_argument("--from-credential", metavar="NAME", help="vault entry with the source store's password or token")
    parser.add_argument("--to-credential", metavar="NAME", help="vault entry with the target store's password or token")
    parser.add_argument("--replace", action="store_true",
                        help="overwrite tables the target already holds (refused otherwise: their rows would be lost)")
    parser.add_argument("--format", choices=["table", "json"], default="table")


def run(args: argparse.Namespace) -> int:
    import purelink.storage
    from purelink.storage.migrate import migrate

    root = Workspace.at(args.workspace).root
    source = purelink.storage.open(args.source, args.from_credential, root=root)
    target = purelink.storage.open(args.target, args.to_credential, root=root)
    table = args.format == "table"
    if table:
        print(f"copying {source.location()} -> {target.location()}")
        print(f"{'table':<40} {'rows from':>10} {'rows to':>10}  {'checksum from':<16}  {'checksum to':<16}")

    def shown(c) -> None:
        if table:
            mark = "ok" if c.ok else "MISMATCH"
            print(f"{c.schema + '.' + c.table:<40} {c.rows_from:>10} {c.rows_to:>10}  "
                  f"{c.checksum_from:<16}  {c.checksum_to:<16}  {mark}", flush=True)

    with source, target:
        copied = migrate(source, target, on_table=shown, replace=args.replace)
    if table:
        print(f"done    {len(copied)} tables, {sum(c.rows_to for c in copied)} rows, counts and checksums equal")
        print(f"next    point recipes at it: purelink recipes new NAME ... --destination {target.url.text}")
    else:
        print(json.dumps([c.__dict__ | {"ok": c.ok} for c in copied]))
    return 0
