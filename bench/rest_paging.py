"""Issue 13's speed goals: cursor, page-number and offset streams through `purelink recipes run`,
at two sizes, beside dlt's `rest_api` on the same endpoints.

    python3 -m venv --system-site-packages VENV && VENV/bin/pip install "dlt[duckdb]"
    PYTHONPATH=. VENV/bin/python bench/rest_paging.py

One sandbox per size (50 ms latency, 100 requests/s, pages of 100: a ceiling of 10,000
records/s). Cursor: Stripe's `/v1/customers` (`starting_after` + `has_more`, time windows in
parallel). Page number and offset: the sandbox's `/numbered/customers` (`page`/`per_page` or
`offset`/`limit`, with `total_pages` and `total` in each body), the same customers. Each run is
`purelink recipes run NAME --full-refresh --executor local --format json` in a workspace whose
connector describes the endpoint; dlt runs `rest_api_source` with the matching paginator at the
smaller size only (it pages sequentially: 100,000 records would take it minutes per style).
Rewrites the `paging` section of bench/RESULTS.md.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rest_vs_dlt import DLT_MODULE, RESULTS, ROOT, Recipe, git_sha, installed_like, run_module, write_module

from purelink.sandbox import serve
from purelink.sandbox.stripe_data import END, START

SIZES = tuple(int(n) for n in os.environ.get("BENCH_SIZES", "20000,100000").split(","))
LATENCY_MS, RATE_LIMIT, PAGE_SIZE = 50, 100, 100
CEILING = RATE_LIMIT * PAGE_SIZE
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))  # at every size (dlt runs at the first only)
STYLES = {
    "page_number": {"style": "page_number", "page_param": "page", "limit_param": "per_page",
                    "page_size": PAGE_SIZE, "total_pages_path": "total_pages", "has_more_path": "has_more"},
    "offset": {"style": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": PAGE_SIZE,
               "total_path": "total", "has_more_path": "has_more"},
}
DLT_PAGINATORS = {
    "page_number": {"type": "page_number", "base_page": 1, "page_param": "page", "total_path": "total_pages"},
    "offset": {"type": "offset", "limit": PAGE_SIZE, "offset_param": "offset", "limit_param": "limit",
               "total_path": "total"},
}


class NumberedRecipe(Recipe):
    """A workspace whose own connector reads the sandbox's numbered list in one style."""

    def __init__(self, workspace: Path, base_url: str, style: str) -> None:
        from purelink.engine import Engine
        from purelink.recipes import parse_recipe

        (workspace / "connectors").mkdir(parents=True, exist_ok=True)
        (workspace / "connectors" / "numbered.yaml").write_text(yaml.safe_dump({
            "name": "numbered", "title": "Numbered", "category": "Test", "description": "Numbered lists",
            "base_url": base_url, "auth": {"style": "bearer", "env": "STRIPE_API_KEY"}, "records_path": "data",
            "concurrency": 8, "pagination": STYLES[style],
            # the sandbox's limiter, like Stripe's, is a token bucket holding a second of requests
            "rate_limit": {"burst_s": 1},
            "streams": [{"name": "customers", "path": "/customers", "primary_key": "id"}]}))
        engine = Engine(workspace)
        recipe = parse_recipe(yaml.safe_dump({
            "name": "bench_customers", "source": {"name": "numbered"}, "streams": [{"name": "customers"}],
            "executor": "local", "requirements": {"rate_limit": float(RATE_LIMIT)}}))
        engine.generate(engine.recipes.save(recipe))
        self.workspace, self.stem = workspace, f"bench_{style}"
        self.db = workspace / "data" / "purelink.duckdb"


def dlt_module(folder: Path, style: str, base_url: str) -> Path:
    text = DLT_MODULE
    if style != "cursor":
        text = text.replace('''"paginator": {{"type": "cursor", "cursor_path": "data[-1].id", "cursor_param": "starting_after",
                       "has_more_path": "has_more"}},''', '"paginator": ' + repr(DLT_PAGINATORS[style]).replace("{", "{{").replace("}", "}}") + ",")
        text = text.replace('params = {{"limit": {page_size}}}',
                            'params = {{"' + STYLES[style]["limit_param"] + '": {page_size}}}')
        text = text.replace('dataset_name="stripe"', 'dataset_name="numbered"')
    return write_module(folder, f"dlt_{style}.py", text, base_url=base_url, slices=1, lo=START, hi=END,
                        page_size=PAGE_SIZE)


def measure(sandbox, module, db: Path, env: dict, schema: str) -> dict:
    sandbox.reset_stats()
    result = run_module(module, db, env)
    db = module.db if isinstance(module, Recipe) else db
    stats = sandbox.stats()
    rows = distinct = 0
    if result["exit"] == 0:
        con = duckdb.connect(str(db), read_only=True)
        try:
            rows, distinct = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {schema}.customers").fetchone()
        finally:
            con.close()
    return {**result, "requests": stats["requests"], "429s": stats["rate_limited"], "rows": rows,
            "distinct": distinct, "run_s": result["finished"].get("duration_s") or float("nan")}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="purelink-paging-"))
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    base_env = installed_like({**os.environ, "PYTHONPATH": path, "RUNTIME__DLTHUB_TELEMETRY": "false"}, work)
    loads, rows = [os.getloadavg()], []
    for size in SIZES:
        with serve(customers=size, latency_ms=LATENCY_MS, rate_limit=RATE_LIMIT) as sandbox:
            env = {**base_env, "STRIPE_API_KEY": sandbox.api_key}
            numbered = sandbox.stripe_base_url.rsplit("/v1", 1)[0] + "/numbered"
            tools = {("purelink", "cursor"): Recipe(work / f"cursor_{size}", sandbox.stripe_base_url,
                                                    float(RATE_LIMIT))}
            for style in STYLES:
                tools[("purelink", style)] = NumberedRecipe(work / f"{style}_{size}", numbered, style)
            if size == SIZES[0]:
                tools[("dlt", "cursor")] = dlt_module(work, "cursor", sandbox.stripe_base_url)
                for style in STYLES:
                    tools[("dlt", style)] = dlt_module(work, style, numbered)
            runs: dict = {}
            for i in range(REPEATS):  # interleaved: a noisy moment hits every tool alike
                for (tool, style), module in tools.items():
                    schema = "stripe" if style == "cursor" else "numbered"
                    r = measure(sandbox, module, work / f"{tool}_{style}_{size}_{i}.duckdb", env, schema)
                    runs.setdefault((tool, style), []).append(r)
                    print(f"  {size:,} {tool} {style} run {i + 1}: {r['wall_s']:.2f} s, {r['run_s']:.2f} s in-pipeline, "
                          f"{r['requests']} requests, {r['rows']:,}/{r['distinct']:,}, {r['rss_mb']:.0f} MB", flush=True)
            for (tool, style), rs in runs.items():
                med = {k: statistics.median(r[k] for r in rs) for k in
                       ("wall_s", "run_s", "cpu_s", "rss_mb", "requests", "429s")}
                rows.append({**med, "size": size, "tool": tool, "style": style, "runs": len(rs),
                             "rows": min(r["rows"] for r in rs), "distinct": min(r["distinct"] for r in rs)})
        loads.append(os.getloadavg())
    report(rows, loads)
    shutil.rmtree(work, ignore_errors=True)


def report(rows: list[dict], loads: list) -> None:
    head = ("| records | tool | style | runs | wall s | % of ceiling | in-pipeline s | % of ceiling in-pipeline "
            "| CPU s | peak RSS MB | requests | 429s | rows / distinct ids |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        ideal = r["size"] / CEILING
        lines.append(f"| {r['size']:,} | {r['tool']} | {r['style']} | {r['runs']} | {r['wall_s']:.2f} "
                     f"| {ideal / r['wall_s']:.0%} | {r['run_s']:.2f} | {ideal / r['run_s']:.0%} | {r['cpu_s']:.1f} "
                     f"| {r['rss_mb']:,.0f} | {r['requests']:.0f} | {r['429s']:.0f} | {r['rows']:,} / {r['distinct']:,} |")
    pl = {(r["size"], r["style"]): r for r in rows if r["tool"] == "purelink"}
    dl = {(r["size"], r["style"]): r for r in rows if r["tool"] == "dlt"}
    ratios = ", ".join(f"{style} {dl[k]['wall_s'] / pl[k]['wall_s']:.1f}x" for k in dl for style in [k[1]])
    load_text = ", ".join(f"{a:.1f}" for a, _, _ in loads)
    table = "\n".join(lines)
    section = f"""## REST speed by paging style: purelink recipes run vs dlt `rest_api` (issue 13)

Sandbox API, {LATENCY_MS} ms latency per request, {RATE_LIMIT} requests/s (429 beyond), pages of {PAGE_SIZE}:
ceiling {CEILING:,} records/s. Each purelink run is `purelink recipes run bench_customers --full-refresh
--executor local --format json` (interpreter start, recipe lookup, reachability check and the pipeline
process included in wall s; in-pipeline s is the `finished` event's duration). dlt: `rest_api_source`,
one resource, the matching paginator, parquet, merge on id. Median of the runs shown, interleaved.
The sandbox's limiter is a token bucket holding a second of requests; purelink's connectors say
so (`burst_s: 1`, as Stripe's does), so after a pause the first second's requests may leave at once:
{rows[0]['size'] // PAGE_SIZE:,} requests need about {rows[0]['size'] / CEILING - 1:.1f} s plus a latency, not {rows[0]['size'] / CEILING:.1f} s.
The ceiling stays issue 13's (requests/s times records a page), so a run can pass 100% of it.
dlt sends one request at a time, as its docs configure it.

{table}

purelink vs dlt (wall time, {rows[0]['size']:,} records): {ratios}.

Machine: {os.cpu_count()} cores shared with other developers' tests; load average (1 min) {load_text}
at the start, between the sizes and at the end. Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, purelink
{git_sha()}. Reproduce: `PYTHONPATH=. VENV/bin/python bench/rest_paging.py` (about 15 minutes on a
busy machine)."""
    print("\n" + section)
    if os.environ.get("BENCH_DRY"):
        return
    text = RESULTS.read_text()
    block = f"<!-- section:paging -->\n{section}\n<!-- /section:paging -->"
    pattern = re.compile(r"<!-- section:paging -->\n.*?\n<!-- /section:paging -->", re.DOTALL)
    text = pattern.sub(lambda m: block, text, count=1) if pattern.search(text) else \
        text.replace("<!-- section:rest -->", block + "\n\n<!-- section:rest -->", 1)
    RESULTS.write_text(text)
    print(f"wrote the paging section of {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
