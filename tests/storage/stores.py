"""Helpers of the store tests: a Stripe recipe made and run through the `purelink` command."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

METADATA = ("_purelink_*", "_airbyte_*")  # differ between two runs of the same rows


def finished(done: subprocess.CompletedProcess) -> dict:
    """The `finished` event `recipes run --format json` prints last."""
    event = json.loads(done.stdout.strip().splitlines()[-1])
    assert event["status"] == "success", done.stdout + done.stderr
    return event


def stripe_recipe(purelink_cli, ws: Path, name: str, api, destination: str, *more: str) -> None:
    purelink_cli(ws, "recipes", "new", name, "--source", "stripe", "--streams", "customers,charges",
                 "--base-url", api.stripe_base_url, "--executor", "local", "--destination", destination, *more,
                 env={"STRIPE_API_KEY": api.api_key})


def run_recipe(purelink_cli, ws: Path, name: str, api) -> dict:
    return finished(purelink_cli(ws, "recipes", "run", name, "--format", "json",
                                 env={"STRIPE_API_KEY": api.api_key}))


def difference(a, b, key: str = "id") -> str:
    """Where two Arrow tables first differ (by `key`), metadata aside: for an assertion message."""
    from purelink.storage.checksum import canonical

    rows_b = {r[key]: r for r in b.to_pylist()}
    for row in a.to_pylist():
        other = rows_b.get(row[key], {})
        for column, value in row.items():
            if column.startswith(("_purelink_", "_airbyte_")):
                continue
            if canonical(value) != canonical(other.get(column)):
                return f"{key}={row[key]} {column}: {value!r} ({a.schema.field(column).type}) != " \
                       f"{other.get(column)!r} ({b.schema.field(column).type if column in b.column_names else '-'})"
    return "no value differs"


def stripe_spec(api, destination: dict, **extra) -> dict:
    """A tests/storage/drive.py spec: the sandbox's Stripe streams into `destination`."""
    return {"source": "stripe", "base_url": api.stripe_base_url, "destination": destination, **extra}


def add_customers(api, n: int) -> set[str]:
    """`n` new customers created through the sandbox's API; their ids."""
    import httpx

    ids = set()
    for i in range(n):
        r = httpx.post(f"{api.stripe_base_url}/customers", data={"email": f"new{i}@example.com", "name": "New"},
                       headers={"Authorization": f"Bearer {api.api_key}"})
        r.raise_for_status()
        ids.add(r.json()["id"])
    return ids
