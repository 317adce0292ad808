"""What the PostgreSQL benchmarks share: the server they read (the one PGPORT names, else a
throwaway one from scripts/postgres-up.sh, stopped at the end), and their section of RESULTS.md.

    with postgres_server() as env:      # PGHOST/PGPORT/PGUSER/PGPASSWORD of the server
        ...
    write_section("stores", text)       # replaces <!-- section:stores --> ... <!-- /section:stores -->
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UP = ROOT / "scripts" / "postgres-up.sh"


def server_env() -> tuple[dict, str | None]:
    """Connection settings, and the directory of a server this run started (to stop at the end)."""
    if os.environ.get("PGPORT"):
        return dict(os.environ), None
    out = subprocess.run(["bash", str(UP)], check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    env = dict(os.environ)
    for line in out.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'")
    return env, env["PURELINK_PG_DIR"]


@contextmanager
def postgres_server() -> Iterator[dict]:
    """The server's environment for the benchmark's body; a server started here is stopped after."""
    env, started_dir = server_env()
    try:
        yield env
    finally:
        if started_dir:
            subprocess.run(["bash", str(UP), "stop", started_dir], check=False, capture_output=True)


def load_average() -> str:
    """Reported with each result: these machines are shared, and load moves the numbers."""
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def write_section(name: str, text: str) -> None:
    """Replace only this benchmark's section of RESULTS.md (other sections belong to other
    benchmarks); a section not there yet is added at the end."""
    path = ROOT / "bench" / "RESULTS.md"
    current = path.read_text()
    pattern = re.compile(rf"<!-- section:{name} -->.*?<!-- /section:{name} -->", re.DOTALL)
    path.write_text(pattern.sub(lambda _: text, current, count=1) if pattern.search(current)
                    else current.rstrip() + "\n\n" + text + "\n")
