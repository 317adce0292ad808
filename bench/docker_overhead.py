"""Container execution costs: cold runtime-image build, warm container start, and a Docker run of a
small recipe against the same run in a local process. Rewrites the `docker` section of RESULTS.md.

    python bench/docker_overhead.py        (needs a running engine: bash scripts/docker-up.sh, and
                                            PURELINK_BASE_IMAGE, e.g. purelink-base:bookworm)
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from purelink.engine import Engine
from purelink.execution.docker import DockerRunner
from purelink.execution.images import IMAGE_REPO, base_image, docker_client, ensure_runtime_image
from purelink.recipes import parse_recipe
from purelink.sandbox import serve

ROUNDS = 5
RESULTS = Path(__file__).with_name("RESULTS.md")


def cold_build(client) -> float:
    """Every purelink-runtime image removed first; the host's wheel cache stays (it is a download
    cache, and this machine cannot reach an index from inside a build anyway)."""
    for image in client.images.list(name=IMAGE_REPO):
        for tag in image.tags:
            client.images.remove(tag, force=True)
    started = time.monotonic()
    ensure_runtime_image(client)
    return time.monotonic() - started


def timed_runs(engine: Engine, recipe, executor: str) -> tuple[list[float], list[float]]:
    """Wall seconds of whole runs, and seconds from start to the first event."""
    walls, firsts = [], []
    for _ in range(ROUNDS):
        started = time.monotonic()
        first = None

        def seen(event, started=started):
            nonlocal first
            if first is None:
                first = time.monotonic() - started

        result = engine.execute(recipe, executor=executor, full_refresh=True, on_event=seen)
        assert result.ok, result.finished
        walls.append(time.monotonic() - started)
        firsts.append(first)
    return walls, firsts


def main() -> None:
    client = docker_client()
    build_s = cold_build(client)
    DockerRunner()  # image now present: later runners reuse it
    with serve(host="0.0.0.0", customers=300) as api, tempfile.TemporaryDirectory() as tmp:
        os.environ["STRIPE_API_KEY"] = api.api_key
        engine = Engine(tmp)
        recipe = engine.recipes.save(parse_recipe(
            f"name: small\nsource: {{name: stripe, base_url: '{api.stripe_base_url}'}}\n"
            "streams: [{name: customers}]\nrequirements: {history_start: 2020-01-01}\n"))
        engine.execute(recipe, executor="docker")  # warm: image built, caches filled
        docker_wall, docker_first = timed_runs(engine, recipe, "docker")
        local_wall, local_first = timed_runs(engine, recipe, "local")
    med = statistics.median
    rows = [
        ("cold runtime image build (wheels cached on the host)", f"{build_s:.1f} s"),
        ("warm container: start to first event", f"{med(docker_first):.2f} s (local process: {med(local_first):.2f} s)"),
        ("small recipe (300 records), Docker run", f"{med(docker_wall):.2f} s"),
        ("same recipe, local run", f"{med(local_wall):.2f} s"),
        ("Docker overhead over local", f"{med(docker_wall) - med(local_wall):+.2f} s (target: within 1.5 s)"),
    ]
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         check=False).stdout.strip()
    table = "\n".join(["| measure | median of 5 |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])
    section = (f"## Docker execution overhead (issue 4)\n\n`python bench/docker_overhead.py` on "
               f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, purelink {sha}, base image `{base_image()}`, "
               f"Docker {client.version()['Version']}.\n\n{table}\n\nEach run is a whole `Engine.execute` (module "
               "generation, key resolution, container create/start/stream/remove, DuckDB writes). The cold build "
               "installs httpx, duckdb and pyarrow from wheels downloaded on the host, then purelink's runtime.\n")
    print(table)
    text = RESULTS.read_text()
    text = re.sub(r"(<!-- section:docker -->\n).*?(\n<!-- /section:docker -->)", lambda m: m[1] + section + m[2],
                  text, flags=re.DOTALL)
    RESULTS.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
