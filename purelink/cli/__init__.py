"""The `purelink` command.

Each subcommand lives in the module named below, which provides `add_arguments(parser)` and
`run(args) -> int`. Modules are imported only when their command runs, so `purelink --help`
stays fast. Any `RuntimeFailure` (the root of Purelink's exceptions, `PurelinkError` and the
runtime's `DatabaseBusy` included) is caught here, once, and becomes one paragraph on stderr and
exit status 1; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from purelink.errors import RuntimeFailure

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("purelink.cli.demo", "run the whole flow on the local sandbox API and show the result"),
    "sandbox": ("purelink.cli.sandbox", "serve a local API that speaks Stripe's protocols, with test data"),
    "sources": ("purelink.cli.sources", "search the connector catalog, or show one source"),
    "el-agent": ("purelink.cli.el_agent", "the pipeline wizard in a terminal"),
    "recipes": ("purelink.cli.recipes", "create, list, show, run, share, import and export recipes"),
    "secrets": ("purelink.cli.secrets", "the encrypted vault for API keys and passwords"),
    "inspect": ("purelink.cli.inspect", "look into the DuckDB database or any store"),
    "migrate": ("purelink.cli.migrate", "copy the data, bookkeeping and state to another store, verified"),
    "schedule": ("purelink.cli.schedule", "run a recipe hourly or daily from this machine's crontab"),
    "deploy": ("purelink.cli.deploy", "write an Airflow DAG or Kubernetes CronJob that runs a recipe on schedule"),
}


def workspace_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--workspace", type=Path, default=None,
                        help="folder holding recipes/, pipelines/ and data/ (default: current directory)")
    return parent


def add_executor(parser: argparse.ArgumentParser, default: str | None = None, of: str = "the recipe's") -> None:
    """`--executor`, the same choices and words in every command that runs a pipeline."""
    parser.add_argument("--executor", choices=["docker", "local", "auto"], default=default,
                        help="where the pipeline runs: docker (an isolated container; fails when no engine "
                             "answers), local (a process on this machine, no isolation), auto (docker when "
                             f"its engine answers, else local with a warning); default: {default or of}")


def in_workspace(args: argparse.Namespace) -> str:
    """" --workspace DIR" when the command was given one, for next steps that work as typed."""
    import shlex

    workspace = getattr(args, "workspace", None)
    return f" --workspace {shlex.quote(str(workspace))}" if workspace else ""


# The variables a user sets, for `purelink --help` (a test checks each is read somewhere in purelink).
ENVIRONMENT = {
    "STRIPE_API_KEY": "a source's key: before the vault's for a recipe that names no credential, after the "
                      "named one's variable and vault entry otherwise (`purelink sources show NAME` names each "
                      "source's variable)",
    "PURELINK_WORKSPACE": "the workspace when --workspace is not given (default: the current directory)",
    "PURELINK_HOME": "where the encrypted vault lives (default ~/.purelink)",
    "PURELINK_VAULT_PASSPHRASE": "unlocks a vault protected by a passphrase, without a prompt",
    "PURELINK_VAULT_KEYRING": "0 keeps the vault's key out of the OS keyring (CI, shared machines)",
    "PURELINK_DUCKDB_MEMORY_LIMIT": "DuckDB's buffer pool while a pipeline loads, e.g. 512MB (default 128MB)",
    "PURELINK_BASE_IMAGE": "the runtime image's base (default python:3.11-slim)",
    "PURELINK_CACHE_DIR": "where image builds keep downloaded wheels",
    "GEMINI_API_KEY": "turns on the Gemini assistant; PURELINK_GEMINI_MODEL picks its model",
}


def environment_help() -> str:
    import textwrap

    lines = ["environment:"]
    for name, text in ENVIRONMENT.items():
        lines += [f"  {name}", *textwrap.wrap(text, 74, initial_indent="      ", subsequent_indent="      ")]
    return "\n".join(lines)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only`, just that command's module is imported for its options."""
    from purelink import __version__

    parser = argparse.ArgumentParser(prog="purelink", description="Get data out of APIs and databases.",
                                     epilog=environment_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, default=None,
                        help="folder holding recipes/, pipelines/ and data/ (default: current directory); "
                             "accepted anywhere on the line")
    parser.add_argument("--version", action="version", version=f"purelink {__version__}")
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
        status = int(importlib.import_module(args._module).run(args) or 0)
        sys.stdout.flush()  # a piped stdout is block-buffered: its last write happens here, not at exit
        return status
    except RuntimeFailure as exc:
        from purelink.secrets.redact import redact

        print("error: " + redact(exc.paragraph()), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return reader_left()


def reader_left() -> int:
    """The reader of our output went away (`purelink inspect ... | head -1`): stop quietly, as
    `cat` does. Standard output is pointed at /dev/null so the interpreter's last flush does not
    raise again, and the status is the shell's for SIGPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


def lift_workspace(argv: list[str]) -> tuple[list[str], Path | None]:
    """`--workspace DIR` may stand anywhere, also after a nested action (`recipes list --workspace D`)."""
    rest, workspace, i = [], None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--workspace" and i + 1 < len(argv):
            workspace, i = Path(argv[i + 1]), i + 2
            continue
        if arg.startswith("--workspace="):
            workspace = Path(arg.split("=", 1)[1])
        else:
            rest.append(arg)
        i += 1
    return rest, workspace


def main(argv: list[str] | None = None) -> int:
    argv, workspace = lift_workspace(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if a in COMMANDS), None)
    parser = build_parser(command if command in COMMANDS else None)
    args, extra = parser.parse_known_args(argv)
    if extra:  # told by the command's own parser, whose usage shows the options it does take
        innermost(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "_module", None):
        parser.print_help()
        return 0
    args.workspace = workspace or args.workspace
    return dispatch(args)


def innermost(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser of the command the arguments chose: `recipes run`'s for `recipes run x --bogus`."""
    for action in parser._actions:  # argparse has no public way to the chosen subparser
        if isinstance(action, argparse._SubParsersAction) and getattr(args, action.dest, None) in action.choices:
            return innermost(action.choices[getattr(args, action.dest)], args)
    return parser


def module_main(command: str, argv: list[str] | None = None) -> int:
    argv, workspace = lift_workspace(sys.argv[1:] if argv is None else argv)
    args = parser_for(command).parse_args(argv)
    args.workspace = workspace or args.workspace
    return dispatch(args)
