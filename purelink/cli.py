"""The `purelink` command.

Each subcommand lives in the module named below, which provides `add_arguments(parser)` and
`run(args) -> int`. Modules are imported only when their command runs, so `purelink --help`
stays fast. A `PurelinkError` becomes one paragraph on stderr and exit status 1; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from purelink.errors import PurelinkError

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("purelink.demo", "run the whole flow on the local sandbox API and show the result"),
    "sandbox": ("purelink.sandbox.cli", "serve a local API that speaks Stripe's protocols, with test data"),
    "sources": ("purelink.catalog.cli", "search the connector catalog, or show one source"),
    "el-agent": ("purelink.el_agent", "the pipeline wizard in a terminal"),
    "recipes": ("purelink.recipes_cli", "create, list, show, run, share and export recipes"),
    "secrets": ("purelink.secrets_cli", "the encrypted vault for API keys and passwords"),
    "inspect": ("purelink.inspect", "look into the DuckDB database"),
}


def workspace_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--workspace", type=Path, default=None,
                        help="folder holding recipes/, pipelines/ and data/ (default: current directory)")
    return parent


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only`, just that command's module is imported for its options."""
    parser = argparse.ArgumentParser(prog="purelink", description="Get data out of APIs and databases.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[workspace_parent()])
        p.set_defaults(_module=module)
        if only is None or only == name:
            importlib.import_module(module).add_arguments(p)
    return parser


def parser_for(command: str) -> argparse.ArgumentParser:
    """A parser for one command alone, for `python -m purelink.<module>`."""
    module, help_text = COMMANDS[command]
    p = argparse.ArgumentParser(prog=f"purelink {command}", description=help_text,
                                parents=[workspace_parent()])
    p.set_defaults(_module=module)
    importlib.import_module(module).add_arguments(p)
    return p


def dispatch(args: argparse.Namespace) -> int:
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except PurelinkError as exc:
        print(f"error: {exc.message}" + (f"\n{exc.guidance}" if exc.guidance else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 0
    return dispatch(args)


def module_main(command: str, argv: list[str] | None = None) -> int:
    return dispatch(parser_for(command).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
