"""`purelink recipes history NAME` and `purelink recipes diff NAME v1 v2` (sub-actions of `recipes`)."""

from __future__ import annotations

import argparse
import json


def add_actions(sub) -> None:
    history = sub.add_parser("history", help="versions with their diffs, the runs of each, schema changes")
    history.add_argument("name")
    history.add_argument("--format", choices=["table", "json"], default="table")
    diff = sub.add_parser("diff", help="what changed between two versions of a recipe")
    diff.add_argument("name")
    diff.add_argument("old", metavar="V1", help="e.g. v1")
    diff.add_argument("new", metavar="V2", help="e.g. v2")


def _history(engine, args: argparse.Namespace) -> int:
    from purelink.lifecycle.timeline import timeline

    story = timeline(engine.recipes, args.name)
    if args.format == "json":
        print(json.dumps(story, indent=2, default=str))
        return 0
    for v in story["versions"]:
        commit = f"  commit {v['commit']}" if v["commit"] else "  (not in git)"
        print(f"{story['name']} v{v['version']}  {v['created_at'] or ''}{commit}")
        print(f"  change: {v['change']}")
        for line in v["diff"].splitlines():
            print(f"    {line}")
        if not v["runs"]:
            print("  runs: none yet")
        for r in v["runs"]:
            took = f"{r['duration_s']:.1f}s" if r["duration_s"] is not None else "-"
            aside = f"  {r['dead_letters']} set aside" if r["dead_letters"] else ""
            by = f"  by {r['executor']}" if r.get("executor") else ""
            print(f"  run {r['started_at']}  {r['status']:<11} {r['records'] or 0:>9,} records  {took}  "
                  f"{r['kind']}{by}{aside}")
    changes = story["schema_changes"]
    print("schema changes:" + ("" if changes else " none recorded"))
    for c in changes:
        types = " -> ".join(t for t in (c["old_type"], c["new_type"]) if t)
        version = f"v{c['version']}" if c["version"] else "v?"
        print(f"  {c['changed_at']}  {version}  {c['table_name']}.{c['column_name']}  {c['change']}  {types}")
    return 0


def _diff(engine, args: argparse.Namespace) -> int:
    from purelink.lifecycle.timeline import parse_version, recipe_diff

    print(recipe_diff(engine.recipes, args.name, parse_version(args.old), parse_version(args.new)), end="")
    return 0


ACTIONS = {"history": _history, "diff": _diff}
