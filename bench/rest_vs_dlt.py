"""REST extraction side by side: purelink vs dlt's `rest_api` source, both into DuckDB files.

    pip install "dlt[duckdb]"
    python bench/rest_vs_dlt.py

One sandbox API (20,000 customers, 50 ms latency, 100 requests/s) serves every run; each run is a
separate `python module.py --db FILE` process, as a user would start it. Wall time is measured
around the process; CPU time and peak RSS are GNU time's figures for that process; requests and
429s come from the sandbox's own counters (reset before each run). Then a purelink re-run with no
new data, and a fault run (10% of requests answered 500, 20 requests/s). Prints a table and
rewrites the `rest` section of bench/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import duckdb

from purelink.sandbox import serve
from purelink.sandbox.stripe_data import END, START

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
CUSTOMERS, LATENCY_MS, RATE_LIMIT, PAGE_SIZE, REPEATS = 20_000, 50, 100, 100, 3
CEILING = RATE_LIMIT * PAGE_SIZE  # records/s: every request a full page, at the rate limit
DLT_SLICES = 8  # as many parallel resources as purelink has workers

# What `purelink recipes new` generates for Stripe customers, with the sandbox's URL.
PURELINK_MODULE = '''"""bench_customers v1: Stripe customers. Run: python bench_customers.py --db FILE"""

from purelink.runtime import BearerAuth, CursorPagination, RestSource, Stream, TimeFilter, main

source = RestSource(
    name="stripe",
    base_url={base_url!r},
    auth=BearerAuth(secret="STRIPE_API_KEY"),
    paginator=CursorPagination(cursor_param="starting_after", cursor_field="id", has_more_path="has_more",
                               limit_param="limit", page_size={page_size}),
    rate_limit={rate_limit!r},
    concurrency=8,
)

streams = [
    Stream(
        "customers",
        path="/customers",
        time_filter=TimeFilter("created", gte="created[gte]", lt="created[lt]"),
        start="2020-01-01",
    ),
]

if __name__ == "__main__":
    main(source, streams, pipeline="bench_customers")
'''

# dlt's REST API source as its docs describe it: Stripe's cursor is the last record's id, sent as
# `starting_after` until `has_more` is false. Parquet load files (dlt's fastest path into DuckDB),
# merge on `id` as purelink does. `slices` > 1 splits the endpoint into time-range resources that
# dlt extracts in parallel (`parallelized=True`): dlt pages one resource sequentially.
DLT_MODULE = '''"""dlt rest_api pipeline for Stripe customers. Run: python dlt_customers.py --db FILE"""

import json
import os
import sys

import dlt
from dlt.sources.rest_api import rest_api_source

SLICES = {slices}
EDGES = [{lo} + ({hi} - {lo}) * i // SLICES for i in range(SLICES)] + [{hi} + 1]


def resource(i):
    params = {{"limit": {page_size}}}
    if SLICES > 1:
        params.update({{"created[gte]": EDGES[i], "created[lt]": EDGES[i + 1]}})
    return {{"name": f"customers_{{i}}", "table_name": "customers",
            "endpoint": {{"path": "customers", "params": params}}}}


config = {{
    "client": {{
        "base_url": {base_url!r},
        "auth": {{"type": "bearer", "token": os.environ["STRIPE_API_KEY"]}},
        "paginator": {{"type": "cursor", "cursor_path": "data[-1].id", "cursor_param": "starting_after",
                       "has_more_path": "has_more"}},
    }},
    "resource_defaults": {{"primary_key": "id", "write_disposition": "merge",
                          "endpoint": {{"data_selector": "data"}}}},
    "resources": [resource(i) for i in range(SLICES)],
}}

db = sys.argv[sys.argv.index("--db") + 1]
pipeline = dlt.pipeline("dlt_customers", destination=dlt.destinations.duckdb(db), dataset_name="stripe",
                        pipelines_dir=db + ".dlt")  # a fresh pipeline per run, like a fresh purelink file
pipeline.run(rest_api_source(config, parallelized=SLICES > 1), loader_file_format="parquet")
steps = {{s.step: (s.finished_at - s.started_at).total_seconds() for s in pipeline.last_trace.steps}}
print(json.dumps({{"event": "finished", "duration_s": steps.get("run"), "steps": steps}}))
'''


class Recipe:
    """A workspace with a saved recipe, run as a user runs it: `purelink recipes run NAME
    --full-refresh --executor local --format json` (the whole command, recipe lookup included)."""

    def __init__(self, workspace: Path, base_url: str, rate_limit: float) -> None:
        from purelink.engine import Engine
        from purelink.recipes import parse_recipe

        workspace.mkdir(parents=True, exist_ok=True)
        engine = Engine(workspace)
        recipe = parse_recipe(
            f"name: bench_customers\nsource: {{name: stripe, base_url: '{base_url}'}}\n"
            "streams: [{name: customers}]\nexecutor: local\n"
            f"requirements: {{history_start: '2020-01-01', rate_limit: {rate_limit}}}\n")
        engine.generate(engine.recipes.save(recipe))
        self.workspace, self.stem = workspace, "bench_recipe"
        self.db = workspace / "data" / "purelink.duckdb"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "purelink.cli", "recipes", "run", "bench_customers", "--full-refresh",
                "--executor", "local", "--format", "json"]


def installed_like(env: dict, work: Path) -> dict:
    """The environment of a run as an installed package sees it: bytecode cached. pip compiles
    a package when it installs it; a checkout under PYTHONDONTWRITEBYTECODE (set on these
    machines) would instead compile every module of purelink in every process, about 0.2 s
    each of the two interpreters. The cache goes to the bench's own folder, not the tree."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "purelink")], env=env, check=False,
                   capture_output=True)
    return env


def run_module(path: Path | Recipe, db: Path, env: dict) -> dict:
    """Run one module (or a recipe through the purelink command) as its own process: wall time,
    peak RSS, exit code and its `finished` event."""
    if isinstance(path, Recipe):
        db = path.db
    rss_file = db.with_suffix(".rss")
    # Not getrusage(RUSAGE_CHILDREN) of this process: a child forked from it starts with the
    # sandbox's memory high-water mark. GNU time's own child starts small.
    timer = ["/usr/bin/time", "-f", "%M %U %S", "-o", str(rss_file)] if shutil.which("/usr/bin/time") else []
    started = time.monotonic()
    command = path.command() if isinstance(path, Recipe) else [sys.executable, str(path), "--db", str(db)]
    cwd = path.workspace if isinstance(path, Recipe) else path.parent
    proc = subprocess.run([*timer, *command], env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    # A module prints its `finished` event; `purelink ... --format json` ends with the same summary.
    finished = next((e for e in reversed(events) if e.get("event") == "finished"), events[-1] if events else {})
    if proc.returncode:
        sys.stderr.write(proc.stderr[-3000:])
    rss_kb, user_s, sys_s = (rss_file.read_text().split()[-3:] if timer and rss_file.exists()
                             else ("nan", "nan", "nan"))
    return {"wall_s": wall, "rss_mb": float(rss_kb) / 1024, "cpu_s": float(user_s) + float(sys_s),
            "exit": proc.returncode, "finished": finished}


def loaded(db: Path) -> tuple[int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone()
    finally:
        con.close()


def measure(sandbox, module: Path, db: Path, env: dict) -> dict:
    sandbox.reset_stats()
    result = run_module(module, db, env)
    db = module.db if isinstance(module, Recipe) else db
    stats = sandbox.stats()
    rows, distinct = loaded(db) if result["exit"] == 0 else (0, 0)
    return {**result, "requests": stats["requests"], "429s": stats["rate_limited"],
            "500s": stats["server_errors"], "rows": rows, "distinct": distinct,
            "run_s": result["finished"].get("duration_s") or float("nan")}


def write_module(folder: Path, name: str, text: str, **values) -> Path:
    path = folder / name
    path.write_text(text.format(**values))
    return path


def median_row(name: str, runs: list[dict]) -> dict:
    med = {k: statistics.median(r[k] for r in runs)
           for k in ("wall_s", "run_s", "cpu_s", "rss_mb", "requests", "429s")}
    med.update(name=name, rows=min(r["rows"] for r in runs), distinct=min(r["distinct"] for r in runs))
    med["rps"] = CUSTOMERS / med["wall_s"]
    return med


def figures_table(rows: list[dict]) -> str:
    head = ("| tool | wall s | records/s | % of ceiling | in-pipeline s | % of ceiling in-pipeline "
            "| CPU s | peak RSS MB | requests | 429s | rows / distinct ids |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['wall_s']:.2f} | {r['rps']:,.0f} | {r['rps'] / CEILING:.0%} "
                     f"| {r['run_s']:.2f} | {CUSTOMERS / r['run_s'] / CEILING:.0%} | {r['cpu_s']:.1f} "
                     f"| {r['rss_mb']:,.0f} "
                     f"| {r['requests']:.0f} | {r['429s']:.0f} | {r['rows']:,} / {r['distinct']:,} |")
    return "\n".join(lines)


def git_sha() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()
    sha = git("rev-parse", "--short", "HEAD") or "unknown"
    return sha + (" (with uncommitted changes)" if git("status", "--porcelain", "--", "purelink") else "")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="purelink-bench-"))
    load_before = os.getloadavg()[0]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))  # this tree's purelink
    base_env = installed_like({**os.environ, "PYTHONPATH": path, "RUNTIME__DLTHUB_TELEMETRY": "false",
                               "EXTRACT__WORKERS": str(DLT_SLICES)}, work)
    runs: dict[str, list[dict]] = {}
    with serve(customers=CUSTOMERS, latency_ms=LATENCY_MS, rate_limit=RATE_LIMIT) as sandbox:
        env = {**base_env, "STRIPE_API_KEY": sandbox.api_key}
        url = sandbox.stripe_base_url
        tools = {
            "purelink recipes run --full-refresh": Recipe(work / "ws", url, float(RATE_LIMIT)),
            "purelink module": write_module(work, "bench_customers.py", PURELINK_MODULE, base_url=url,
                                            page_size=PAGE_SIZE, rate_limit=float(RATE_LIMIT)),
            "dlt rest_api, 1 resource": write_module(work, "dlt_customers_1.py", DLT_MODULE, base_url=url,
                                                     slices=1, lo=START, hi=END, page_size=PAGE_SIZE),
            f"dlt rest_api, {DLT_SLICES} parallel resources": write_module(
                work, f"dlt_customers_{DLT_SLICES}.py", DLT_MODULE, base_url=url, slices=DLT_SLICES,
                lo=START, hi=END, page_size=PAGE_SIZE),
        }
        for i in range(REPEATS):  # interleaved, so a noisy moment on the machine hits every tool alike
            for name, module in tools.items():
                r = measure(sandbox, module, work / f"{module.stem}_{i}.duckdb", env)
                runs.setdefault(name, []).append(r)
                print(f"  run {i + 1}/{REPEATS} {name}: {r['wall_s']:.2f} s, {r['requests']} requests, "
                      f"{r['distinct']:,} distinct ids", flush=True)
        rerun = measure(sandbox, tools["purelink module"], work / f"bench_customers_{REPEATS - 1}.duckdb", env)
    with serve(customers=CUSTOMERS, latency_ms=LATENCY_MS, rate_limit=20, fail_rate=0.1) as faulty:
        module = write_module(work, "bench_customers_faults.py", PURELINK_MODULE, page_size=PAGE_SIZE,
                              base_url=faulty.stripe_base_url, rate_limit=20.0)
        env = {**base_env, "STRIPE_API_KEY": faulty.api_key}
        fault = measure(faulty, module, work / "faults.duckdb", env)
    rows = [median_row(name, rs) for name, rs in runs.items()]
    report(rows, rerun, fault, load_before, os.getloadavg()[0])
    shutil.rmtree(work, ignore_errors=True)


def verdict(ok: bool) -> str:
    return "holds" if ok else "missed"


def report(rows: list[dict], rerun: dict, fault: dict, load_before: float, load_after: float) -> None:
    pl, best = rows[0], min((r for r in rows if r["name"].startswith("dlt")), key=lambda r: r["wall_s"])
    ratio, share = best["wall_s"] / pl["wall_s"], pl["rps"] / CEILING
    scenario = (f"Scenario: sandbox API with {CUSTOMERS:,} customers, {LATENCY_MS} ms latency per request, "
                f"{RATE_LIMIT} requests/s, pages of {PAGE_SIZE}. Ceiling = {RATE_LIMIT} requests/s x "
                f"{PAGE_SIZE} records = {CEILING:,} records/s ({CUSTOMERS / CEILING:.1f} s for the whole "
                f"set). Median of {REPEATS} runs each, runs interleaved.")
    documented = next(r for r in rows if r["name"] == "dlt rest_api, 1 resource")["wall_s"] / pl["wall_s"]
    notes = f"""- **purelink (recipes run) vs dlt as its docs configure it (1 resource)**: **{documented:.1f}x** on wall \
time (target 5x: {verdict(documented >= 5)}); vs the faster 8-resource variant: {ratio:.1f}x on wall time, \
{best['cpu_s'] / pl['cpu_s']:.1f}x on CPU time.
  purelink at **{share:.0%} of the ceiling** on wall time, {CUSTOMERS / pl['run_s'] / CEILING:.0%} \
in-pipeline (target 90%: {verdict(share >= 0.90)}).
- **Re-run with no new data** (purelink, same file): {rerun['requests']} request(s), {rerun['429s']} 429s, \
{rerun['wall_s']:.2f} s; table still {rerun['rows']:,} rows / {rerun['distinct']:,} distinct ids.
- **Fault run** (purelink; 10% of requests answered 500, 20 requests/s, module rate limit 20/s): \
exit {fault['exit']}, {fault['requests']} requests, {fault['500s']} answered 500, {fault['429s']} 429s, \
{fault['wall_s']:.1f} s; **{fault['rows']:,} rows, {fault['distinct']:,} distinct ids** \
(every record exactly once: {verdict(fault['rows'] == fault['distinct'] == CUSTOMERS)})."""
    method = f"""- **wall s**: the whole process, interpreter start included: `purelink recipes run bench_customers
  --full-refresh --executor local --format json` (the path a user takes: recipe lookup, credentials, reachability
  check, the pipeline as a child process), or `python module.py --db FILE` for the module and dlt rows;
  **in-pipeline s**: the tool's own timing (purelink's `finished` event, dlt's `run` trace step).
- **CPU s** (user + system) and **peak RSS** (maximum resident set size): GNU time's, for that process.
  Requests and 429s: the sandbox's own counters.
- **dlt setup**: `rest_api_source` with the `cursor` paginator (`cursor_path="data[-1].id"`,
  `cursor_param="starting_after"`, `has_more_path="has_more"`), bearer auth, `limit=100`, `primary_key="id"`,
  `write_disposition="merge"` (as purelink merges), `loader_file_format="parquet"` (its default insert-values
  files took 7-20 s to load and 2.4 GB of memory here). dlt pages a resource sequentially, so the parallel
  variant splits the endpoint into {DLT_SLICES} `created[gte]/[lt]` resources over the data's known date range
  (knowledge purelink does not use), with `parallelized=True` and `EXTRACT__WORKERS={DLT_SLICES}`."""
    footer = (f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores (load average "
              f"{load_before:.1f} before, {load_after:.1f} after: other work shares this machine), Python "
              f"{platform.python_version()}, purelink {git_sha()}, dlt {version('dlt')}, "
              f"duckdb {version('duckdb')}.\n"
              'Reproduce: `python3 -m venv --system-site-packages VENV && VENV/bin/pip install "dlt[duckdb]"`, '
              'then `PYTHONPATH=. VENV/bin/python bench/rest_vs_dlt.py`.')
    table = figures_table(rows)
    print(f"\n{table}\n\n{notes}\n")
    section = (f"## REST extraction: purelink vs dlt `rest_api` (issue 2)\n\n{scenario}\n\n{table}\n\n"
               f"{notes}\n\n{method}\n\n{footer}")
    text = RESULTS.read_text()
    pattern = re.compile(r"(<!-- section:rest -->\n).*?(\n<!-- /section:rest -->)", re.DOTALL)
    RESULTS.write_text(pattern.sub(lambda m: m.group(1) + section + m.group(2), text, count=1))
    print(f"wrote the rest section of {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
