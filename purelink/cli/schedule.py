"""`purelink schedule NAME --hourly | --daily [--at HH:MM]`, `schedule list`, `schedule remove NAME`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from purelink.errors import PurelinkError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # `list` and `remove NAME` read as words rather than subparsers so `schedule NAME --daily` stays short.
    parser.usage = ("purelink schedule NAME [--hourly | --daily] [--at HH:MM] [--workspace DIR]\n"
                    "       purelink schedule list [--format json]\n"
                    "       purelink schedule remove NAME [--workspace DIR]")
    parser.add_argument("words", nargs="+", metavar="WORD", help="the recipe to schedule; or list; or remove NAME")
    every = parser.add_mutually_exclusive_group()
    every.add_argument("--hourly", action="store_const", const="hourly", dest="every", help="every hour")
    every.add_argument("--daily", action="store_const", const="daily", dest="every",
                       help="once a day (without either flag: the recipe's own frequency)")
    parser.add_argument("--at", metavar="HH:MM", help="time of day (daily, default 03:00) or minute (hourly, :00)")
    parser.add_argument("--format", choices=["table", "json"], default="table")


def run(args: argparse.Namespace) -> int:
    from purelink.engine import Engine
    from purelink.lifecycle import schedule

    engine = Engine(args.workspace)
    words = args.words
    if words[0] == "list" and len(words) == 1:
        return _list(schedule.entries(), args.format)
    if words[0] == "remove" and len(words) == 2:
        if not schedule.remove(engine.workspace, words[1]):
            raise PurelinkError(f"No scheduled run of {words[1]} for {engine.workspace.root}.",
                                "See `purelink schedule list` for what is scheduled.")
        print(f"removed the scheduled run of {words[1]} ({engine.workspace.root})")
        return 0
    if len(words) != 1:
        raise PurelinkError(f"`purelink schedule {' '.join(words)}` is not a schedule command.",
                            "Use `purelink schedule NAME --daily`, `schedule list` or `schedule remove NAME`.")
    recipe = engine.recipes.load(words[0])  # a clear error for an unknown recipe
    every = args.every or (recipe.requirements.frequency if recipe.requirements.frequency != "once" else None)
    if every is None:
        raise PurelinkError(f"How often should {recipe.name} run?",
                            f"Add --hourly or --daily, e.g. `purelink schedule {recipe.name} --daily --at 02:00`.")
    entry = schedule.install(engine.workspace, recipe.name, every=every, at=args.at)
    print(f"scheduled {recipe.name} {entry.every} at {entry.at}; runs are appended to "
          f"{engine.workspace.logs / (recipe.name + '.log')}")
    print(f"crontab   {entry.line}")
    key = _key_outside_vault(engine, recipe)
    if key:
        print(f"note      {key}")
    if not _cron_running():
        print("note      cron does not seem to run on this machine; start it (service cron start) so the "
              "entry fires")
    return 0


def _list(entries, fmt: str) -> int:
    if fmt == "json":
        print(json.dumps([{"name": e.name, "workspace": str(e.workspace), "every": e.every, "at": e.at,
                           "line": e.line} for e in entries], indent=2))
    elif not entries:
        print("Nothing scheduled. Schedule a recipe: purelink schedule NAME --daily")
    else:
        for e in entries:
            print(f"{e.name:<28} {e.every:<7} {e.at:<6} {e.workspace}")
    return 0


def _key_outside_vault(engine, recipe) -> str | None:
    """Cron passes no environment variables: a key that only lives in one would fail every run."""
    from purelink.pipeline.codegen import credential_name
    from purelink.secrets.vault import Vault

    spec = engine.spec(recipe)
    if spec.kind != "rest" or spec.auth.style == "none":
        return None
    vault = Vault()
    missing = [(n, env) for n, env in ((credential_name(recipe, spec), spec.auth.env),
                                       (spec.auth.password_env, spec.auth.password_env)) if n and n not in vault]
    if not missing:
        return None
    what = " and ".join(n for n, _ in missing)
    how = "; ".join(f"purelink secrets set {n} --from-env {env or n}" for n, env in missing)
    return (f"the key{'' if len(missing) == 1 else 's'} {what} {'is' if len(missing) == 1 else 'are'} not in the vault, and cron passes on no environment "
            f"variable: store {'it' if len(missing) == 1 else 'them'} once ({how}) or the scheduled runs will fail")


def _cron_running() -> bool:
    for pidfile in (Path("/run/crond.pid"), Path("/var/run/crond.pid")):
        try:
            os.kill(int(pidfile.read_text().strip()), 0)
            return True
        except (OSError, ValueError):
            continue
    return False
