"""`purelink sources import FILE_OR_URL`: a connector for an API that is not in the catalog.

    purelink sources import openapi.json --name acme                 # asks about each unsure guess
    purelink sources import openapi.json --name acme --streams issues,pulls \\
        --set issues.time_filter=null --set auth='{style: bearer}' --yes   # scripts: answers as flags

Every guess, with how sure it is and why, is printed. A guess below 80% is a question: answered
at the prompt (stdin a terminal), with `--set FIELD=VALUE`, or accepted as shown with
`--accept-guesses`; it is never applied without one of those. The connector lands in the
workspace's connectors/NAME.yaml, where `purelink recipes new --source NAME` finds it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

from purelink.errors import SourceError


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("import (purelink sources import FILE_OR_URL)")
    group.add_argument("--name", help="the connector's name (default: from the document's title)")
    group.add_argument("--base-url", help="replace the document's server URL")
    group.add_argument("--streams", help="comma-separated streams to keep (default: all)")
    group.add_argument("--set", dest="answers", action="append", default=[], metavar="FIELD=VALUE",
                       help="answer a question or correct a guess (YAML value), e.g. issues.primary_key=id")
    group.add_argument("--accept-guesses", action="store_true",
                       help="accept the unsure guesses as shown (they are printed first)")
    group.add_argument("--yes", action="store_true", help="save without asking")


def parse_answer(text: str) -> tuple[str, Any]:
    field, sep, value = text.partition("=")
    if not sep or not field.strip():
        raise SourceError(f"--set {text!r} is not FIELD=VALUE.", "For example: --set customers.primary_key=id")
    try:
        return field.strip(), yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        return field.strip(), value


def answered(question: str, changes: dict) -> bool:
    # `--set issues.pagination=...` answers that question; `--set auth=...` answers `auth`
    return any(question == key or question.startswith(key + ".") for key in changes)


def ask(proposal, guess, changes: dict) -> dict[str, Any]:
    """The change one answer at the prompt makes. An answer the connector cannot take is refused
    at once, with why, and asked again: the answers already given stay. Enter keeps the value shown."""
    while True:
        reply = input(f"  {guess.field} [{guess.value!r}]: ").strip()
        if not reply:  # a path variable's value shown becomes its default
            return proposal.kept([guess])
        value = parse_answer(f"{guess.field}={reply}")[1]
        try:
            proposal.confirm({**changes, guess.field: value})
        except SourceError as exc:
            print(f"  Not taken: {exc.message.rstrip('.')}. Type another value, or Enter to keep {guess.value!r}.")
            continue
        return {guess.field: value}


def run_import(args: argparse.Namespace, rest: list[str]) -> int:
    from purelink.catalog.openapi import import_openapi, save_spec
    from purelink.workspace import Workspace

    if len(rest) != 1:
        raise SourceError("`purelink sources import` takes one OpenAPI document (a file or a URL).",
                          "For example: purelink sources import openapi.json --name acme")
    proposal = import_openapi(rest[0], name=args.name, base_url=args.base_url)
    print(proposal.text())
    changes: dict[str, Any] = dict(parse_answer(a) for a in args.answers)
    streams = [s.strip() for s in (args.streams or "").split(",") if s.strip()]
    if streams:
        changes["streams"] = streams
    open_questions = [g for g in proposal.questions(streams or None) if not answered(g.field, changes)]
    interactive = sys.stdin.isatty()
    if open_questions and interactive and not args.accept_guesses:
        print(f"\n{len(open_questions)} guess(es) below 80%: Enter keeps the value shown, or type a new one "
              "(YAML, e.g. `id` or `{style: bearer}`).")
        for g in open_questions:
            print(f"  {g.field}: {g.evidence}")
            changes.update(ask(proposal, g, changes))
    elif open_questions and not args.accept_guesses:
        fields = ", ".join(g.field for g in open_questions[:8]) + (" ..." if len(open_questions) > 8 else "")
        raise SourceError(f"{len(open_questions)} guess(es) are below 80% and unanswered: {fields}.",
                          "Answer each with --set FIELD=VALUE, narrow the streams with --streams, run it in a "
                          "terminal to be asked, or accept them as printed with --accept-guesses.")
    elif open_questions:
        print(f"\naccepted as shown: {', '.join(g.field for g in open_questions)}")
        changes.update(proposal.kept(open_questions))
    spec = proposal.confirm(changes)
    root = Workspace.at(args.workspace).root
    if not args.yes:
        if not interactive:
            raise SourceError("Nothing was saved: confirm with --yes (stdin is not a terminal to ask).",
                              "Check the proposal printed above, then run the same command with --yes.")
        if input(f"Save connectors/{spec.name}.yaml in {root}? [Y/n] ").strip().lower() in ("n", "no"):
            print("Not saved.")
            return 1
    path = save_spec(spec, root, origin=proposal.location)
    needs = "".join(f" --var {v}=..." for v, spec_var in spec.variables.items() if not spec_var.default)
    print(f"saved {path}\nnext: purelink recipes new {spec.name}_{spec.streams[0].name} --source {spec.name} "
          f"--streams {spec.streams[0].name}{needs}")
    return 0
