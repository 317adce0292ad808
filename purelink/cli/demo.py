"""`purelink demo`: the whole job on embedded defaults.

Starts the sandbox API, writes the recipe `stripe_customers` and its module, runs it (in a
container when Docker answers, else locally with a warning), and shows the summary and the
first rows read back from DuckDB.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
from typing import Self

from purelink.cli import add_executor
from purelink.cli.sandbox import DEFAULT_PORT as DEMO_PORT
from purelink.workspace import CHECKOUT, Workspace

# The vault entry the demo recipe names. Not `stripe`: a user's real Stripe key may live there,
# and the demo must never replace it with the sandbox's published test key.
DEMO_CREDENTIAL = "stripe_sandbox"
DEFAULT_CUSTOMERS = 3421
DEMO_RECIPE = "stripe_customers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_executor(parser, "auto")
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS, help="customers in the sandbox")
    parser.add_argument("--port", type=int, default=None,
                        help=f"sandbox port (default {DEMO_PORT}, the one `purelink sandbox` uses, if free)")


def start_sandbox(port: int | None, customers: int, host: str, previous: int | None = None):
    """The sandbox on `port`, or on the default port and, when that one is busy, on `previous` (the
    port the current recipe version names, so a re-run with nothing changed keeps that version),
    and else any free one. Trying each port itself (rather than checking first) leaves no gap for
    another process."""
    from purelink.sandbox import SandboxError, serve

    if port is not None:
        return serve(port=port, customers=customers, host=host)
    for candidate in dict.fromkeys(p for p in (DEMO_PORT, previous) if p):
        try:
            return serve(port=candidate, customers=customers, host=host)
        except SandboxError:
            continue
    return serve(port=0, customers=customers, host=host)


class Running:
    """A sandbox another process serves on the demo's port (`purelink sandbox`, as the demo's next
    steps suggest): used as it is, so the recipe keeps naming that port."""

    def __init__(self, url: str, sources: dict) -> None:
        self.url, self.stripe_base_url, self.api_key = url, sources["stripe"]["base_url"], sources["stripe"]["api_key"]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def running_sandbox(host: str, customers: int) -> Running | None:
    """The sandbox on the demo's port when it serves exactly what the demo's own would (seed,
    customers, no faults); None when the port is free, or held by anything else."""
    import json
    import urllib.request

    from purelink.sandbox.protocol import SERVED, SandboxConfig

    url = f"http://{host}:{DEMO_PORT}"
    try:
        with urllib.request.urlopen(f"{url}/_sandbox/config", timeout=1) as answer:
            config = json.loads(answer.read())
        with urllib.request.urlopen(f"{url}/_sandbox/sources", timeout=1) as answer:
            sources = json.loads(answer.read())
    except (OSError, ValueError):
        return None
    wanted = {k: getattr(SandboxConfig(customers=customers), k) for k in SERVED}
    if not isinstance(config, dict) or any(config.get(k) != v for k, v in wanted.items()) or "stripe" not in sources:
        return None
    return Running(url, sources)


def previous_port(engine) -> int | None:
    """The sandbox port the demo recipe's current version names, if any."""
    from urllib.parse import urlsplit

    if not engine.recipes.versions(DEMO_RECIPE):
        return None
    try:
        url = urlsplit(engine.recipes.load(DEMO_RECIPE).source.base_url or "")
        return url.port if url.hostname in ("127.0.0.1", "localhost") else None
    except Exception:  # noqa: BLE001 - a hand-edited recipe that no longer parses: start afresh
        return None


def run(args: argparse.Namespace) -> int:
    from purelink.engine import Engine
    from purelink.errors import ExecutionError
    from purelink.execution.console import EXIT_STOPPED, summary_text
    from purelink.execution.terminal import watch
    from purelink.recipes import parse_recipe

    workspace = Workspace.at(args.workspace).ensure()
    engine = Engine(workspace)
    # The recipe holds the sandbox's URL: the same port on every run keeps it one recipe version,
    # and lets `purelink sandbox` (same default port) serve it again later.
    host = sandbox_host(args.executor)
    running = running_sandbox(host, args.customers) if args.port is None else None
    with running or start_sandbox(args.port, args.customers, host, previous_port(engine)) as sandbox:
        port = int(sandbox.url.rsplit(":", 1)[1])
        print(f"sandbox     Stripe-compatible API at {sandbox.stripe_base_url} ({args.customers:,} customers)"
              + (f", served by the `purelink sandbox` already running on port {port}" if running else ""))
        if args.port is None and port != DEMO_PORT:
            print(f"note        port {DEMO_PORT} is busy, so the sandbox uses {port}; the recipe names that "
                  f"port (a new recipe version when it changes; the next demo tries {port} again)")
        store_key(sandbox.api_key)
        before = (engine.recipes.versions(DEMO_RECIPE) or [None])[-1]
        recipe = engine.recipes.save(parse_recipe(f"""
name: stripe_customers
description: Stripe customers from the local sandbox API
source: {{name: stripe, base_url: "{sandbox.stripe_base_url}", credential: {DEMO_CREDENTIAL}}}
streams:
  - name: customers
    columns: [id, email, name, phone, created, currency, balance, delinquent, address, metadata]
    validations: [{{kind: required, field: id}}]
requirements: {{purpose: poc, frequency: once, history_start: "2020-01-01", rate_limit: 100}}
executor: {args.executor}
""", origin="the demo recipe"))
        same = " (unchanged: reused)" if recipe.version == before else ""
        print(f"recipe      {engine.recipes.path(recipe.name, recipe.version)}{same}")
        print(f"module      {engine.generate(recipe)}")
        result = watch(engine, recipe, resume_hint=f"purelink recipes run {recipe.name}", executor=args.executor)
        print("executor    " + ("a Docker container (isolated)" if result.isolated else "a local process"))
        if getattr(result, "warning", None):
            print(f"warning     {result.warning}")
        finished = result.finished or {"status": "failed", "error": "\n".join(result.output[-5:])}
        print(summary_text(finished, resume_hint=f"purelink recipes run {recipe.name}"))
        if result.stopped:
            return EXIT_STOPPED  # asked for, not a failure: the summary said what was kept and how to resume
        if not result.ok:
            raise ExecutionError(f"The demo run did not succeed: {finished.get('error') or 'see the error above'}",
                                 finished.get("guidance") or "See logs/ for the events of the run.")
    frame = engine.tables(recipe)["customers"]
    table = ((finished.get("streams") or {}).get("customers") or {}).get("table") or "stripe.customers"
    print(f"\n{table}: {len(frame):,} rows, {frame['id'].nunique():,} distinct ids. Newest:")
    newest = frame.sort_values(["created", "id"], ascending=False).head(5)  # the same five on every run
    print(newest[["id", "email", "name", "created", "balance"]].to_string(index=False))
    print()
    print(next_steps(args, recipe.name, port=port, host=host, running=running is not None))
    return 0


def store_key(key: str) -> None:
    """The sandbox's (published, test-only) key in the vault under the name the recipe uses, so
    `purelink recipes run stripe_customers` and the module itself find it later."""
    from purelink.errors import PurelinkError
    from purelink.secrets.vault import Vault

    try:
        vault = Vault()
        current = vault.get(DEMO_CREDENTIAL)
        if current is None or current.reveal() != key:
            vault.set(DEMO_CREDENTIAL, key)
    except PurelinkError as exc:  # a passphrase vault without a terminal: this run still works
        os.environ.setdefault(DEMO_CREDENTIAL, key)
        print(f"note        the sandbox key was not stored in the vault ({exc.message}); before re-running, "
              f"store it: purelink secrets set {DEMO_CREDENTIAL}")


def next_steps(args: argparse.Namespace, recipe: str, *, port: int, host: str, running: bool = False) -> str:
    """Commands that work when typed as printed, one per line (a test types each one)."""
    where = f" --workspace {shlex.quote(str(args.workspace))}" if args.workspace else ""
    sandbox = "purelink sandbox"
    if port != DEMO_PORT:
        sandbox += f" --port {port}"
    if host != "127.0.0.1":
        sandbox += f" --host {host}"
    if args.customers != DEFAULT_CUSTOMERS:
        sandbox += f" --customers {args.customers}"
    steps = [(f"purelink inspect --tables{where}", "the tables and their row counts"),
             (sandbox, "in another terminal; serves the recipe's API until Ctrl-C"),
             (f"purelink recipes run {recipe}{where}", "while that sandbox runs; the key is in the vault"),
             ("%load_ext purelink", "in Jupyter")]
    if running:  # it runs already: starting another would only find the port taken
        steps.pop(1)
        steps[1] = (steps[1][0], f"while the sandbox on port {port} runs; the key is in the vault")
    if importlib.util.find_spec("ipywidgets") is None:  # the notebook's extra is not installed here
        lab = importlib.util.find_spec("jupyterlab") is None
        steps.insert(-1, (jupyter_install(lab=lab), "once, before the notebook: its widgets (the jupyter extra)"
                          + (" and JupyterLab; then: jupyter lab" if lab else "")))
    width = max(len(cmd) for cmd, _ in steps)
    return "next steps\n" + "\n".join(f"  {cmd.ljust(width)}   # {why}" for cmd, why in steps)


def jupyter_install(*, lab: bool = False) -> str:
    """How to add the notebook's extra to this installation (from the clone it runs from, or by
    name), and JupyterLab itself when `lab`: the extra goes into an existing Jupyter, and a fresh
    environment has none."""
    package = f"-e {shlex.quote(f'{CHECKOUT}[jupyter]')}" if CHECKOUT else "'purelink-jupyter[jupyter]'"
    return f"pip install {package}" + (" jupyterlab" if lab else "")


def sandbox_host(executor: str) -> str:
    """Where the sandbox listens: loopback only. A container run reaches it through the relay that
    forwards a recipe's loopback URLs into the container's network (purelink.execution.docker.forward),
    so nothing (fake data, a published test key) needs to listen on every interface."""
    return os.environ.get("PURELINK_SANDBOX_HOST") or "127.0.0.1"

if __name__ == "__main__":
    import sys

    from purelink.cli import module_main

    sys.exit(module_main("demo"))
