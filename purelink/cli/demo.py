"""`purelink demo`: the whole job on embedded defaults.

Starts the sandbox API, writes the recipe `stripe_customers` and its module, runs it (in a
container when Docker answers, else locally with a warning), and shows the summary and the
first rows read back from DuckDB.
"""

from __future__ import annotations

import argparse
import os
import socket

from purelink.workspace import Workspace

DEMO_PORT = 12111


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", choices=["docker", "local", "auto"], default="auto")
    parser.add_argument("--customers", type=int, default=3421, help="customers in the sandbox")
    parser.add_argument("--port", type=int, default=None, help=f"sandbox port (default {DEMO_PORT} if free)")


def free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def run(args: argparse.Namespace) -> int:
    from purelink.engine import Engine
    from purelink.errors import ExecutionError
    from purelink.execution.console import ConsoleMonitor, summary_text
    from purelink.recipes import parse_recipe
    from purelink.sandbox import serve

    workspace = Workspace.at(args.workspace).ensure()
    engine = Engine(workspace)
    port = args.port or free_port(DEMO_PORT)
    with serve(port=port, customers=args.customers, host=sandbox_host(args.executor)) as sandbox:
        print(f"sandbox     Stripe-compatible API at {sandbox.stripe_base_url} ({args.customers:,} customers)")
        os.environ.setdefault("STRIPE_API_KEY", sandbox.api_key)
        recipe = engine.recipes.save(parse_recipe(f"""
name: stripe_customers
description: Stripe customers from the local sandbox API
source: {{name: stripe, base_url: "{sandbox.stripe_base_url}", credential: STRIPE_API_KEY}}
streams:
  - name: customers
    columns: [id, email, name, phone, created, currency, balance, delinquent, address, metadata]
    validations: [{{kind: required, field: id}}]
requirements: {{purpose: poc, frequency: once, history_start: "2020-01-01", rate_limit: 100}}
executor: {args.executor}
""", origin="the demo recipe"))
        print(f"recipe      {engine.recipes.path(recipe.name, recipe.version)}")
        print(f"module      {engine.generate(recipe)}")
        result = engine.execute(recipe, executor=args.executor, on_event=ConsoleMonitor())
        print("executor    " + ("a Docker container (isolated)" if result.isolated else "a local process"))
        if getattr(result, "warning", None):
            print(f"warning     {result.warning}")
        finished = result.finished or {"status": "failed", "error": "\n".join(result.output[-5:])}
        print(summary_text(finished))
        if not result.ok:
            raise ExecutionError(f"The demo run did not succeed: {finished.get('error') or 'see the error above'}",
                                 finished.get("guidance") or "See logs/ for the events of the run.")
    frame = engine.tables(recipe)["customers"]
    print(f"\nstripe.customers: {len(frame):,} rows, {frame['id'].nunique():,} distinct ids. First rows:")
    print(frame[["id", "email", "name", "created", "balance"]].head(5).to_string(index=False))
    print("\nnext        purelink inspect --tables | purelink recipes run stripe_customers "
          "(with `purelink sandbox` running) | in Jupyter: %load_ext purelink")
    return 0


def sandbox_host(executor: str) -> str:
    """Where the sandbox listens. A container reaches the host through Docker's bridge, not its
    loopback, so when Docker may run the pipeline the sandbox (fake data, a published test key)
    listens on every interface; otherwise on loopback only."""
    if os.environ.get("PURELINK_SANDBOX_HOST"):
        return os.environ["PURELINK_SANDBOX_HOST"]
    if executor == "local":
        return "127.0.0.1"
    from purelink.execution.docker import docker_available

    return "0.0.0.0" if docker_available() else "127.0.0.1"


if __name__ == "__main__":
    import sys

    from purelink.cli import module_main

    sys.exit(module_main("demo"))
