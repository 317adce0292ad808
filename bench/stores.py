"""1,000,000 PostgreSQL rows into each store: purelink's DuckDB and PostgreSQL stores beside dlt.

    python bench/stores.py                      # 1,000,000 rows, 1 round
    python bench/stores.py --rows 200000 --dlt-python /path/to/venv/bin/python --write

The source table is postgres_vs_peers.py's (16 mixed columns). purelink loads through each
store's own Destination (`purelink.storage.open(url).destination(arrow=True)`), as a recipe run
does; dlt's `sql_table` (pyarrow backend) loads into its duckdb and postgres destinations, run by
`--dlt-python` (an interpreter that has dlt; skipped when none). Each load is its own process
(peak = that process's `ru_maxrss`); every load must land exactly ROWS rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import postgres_vs_peers as peers  # the bench folder is no package: run as `python bench/stores.py`
from pg_server import ROOT, load_average, postgres_server, write_section

CHILD = r'''
import json, os, resource, sys, time
tool, store, table, path, workdir = sys.argv[1:6]
user, host, port, password = (os.environ[k] for k in ("PGUSER", "PGHOST", "PGPORT", "PGPASSWORD"))
source_url = f"postgresql://{user}@{host}:{port}/postgres"
target_db = "bench_store"
started = time.perf_counter()
if tool == "purelink":
    import purelink.storage
    from purelink.runtime import PostgresSource, Table, sql_run
    from purelink.runtime.events import EventWriter
    url = f"duckdb://{path}" if store == "duckdb" else f"postgresql://{user}@{host}:{port}/{target_db}?schema=bench"
    os.environ["WAREHOUSE_PASSWORD"] = password
    destination = purelink.storage.open(url).destination(arrow=True)
    done = sql_run(PostgresSource(url=source_url), [Table(table)], pipeline="bench", schema="bench",
                   destination=destination, events=EventWriter("bench", open(os.devnull, "w")))
    assert done["status"] == "success", done
else:
    import dlt
    from dlt.sources.sql_database import sql_table
    uri = f"postgresql+psycopg2://{user}:{password}@{host}:{port}/postgres"
    dest = dlt.destinations.duckdb(path) if store == "duckdb" else \
        dlt.destinations.postgres(f"postgresql://{user}:{password}@{host}:{port}/{target_db}")
    pipeline = dlt.pipeline(pipeline_name=f"bench_{store}", destination=dest, dataset_name="bench_dlt",
                            pipelines_dir=workdir)
    pipeline.run(sql_table(credentials=uri, table=table, backend="pyarrow"))
seconds = time.perf_counter() - started
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
schema = "bench" if tool == "purelink" else "bench_dlt"
if store == "duckdb":
    import duckdb
    con = duckdb.connect(path, read_only=True)
    rows = con.execute(f"SELECT count(*) FROM {schema}.{table}").fetchall()[0][0]
else:
    import psycopg
    with psycopg.connect(host=host, port=port, user=user, password=password, dbname=target_db) as con:
        rows = con.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()[0]
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": max(me.ru_maxrss, kids.ru_maxrss) / 1024,
                  "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime}))
'''


def fresh_target(env: dict) -> None:
    from adbc_driver_postgresql import dbapi

    uri = f"postgresql://{env['PGUSER']}:{env['PGPASSWORD']}@{env['PGHOST']}:{env['PGPORT']}/postgres"
    con = dbapi.connect(uri, autocommit=True)
    cur = con.cursor()
    cur.execute("DROP DATABASE IF EXISTS bench_store WITH (FORCE)")
    cur.execute("CREATE DATABASE bench_store")
    cur.close()
    con.close()


def run_one(python: str, tool: str, store: str, rows: int, env: dict, workdir: Path) -> dict:
    path = workdir / f"{tool}_{store}.duckdb"
    for suffix in ("", ".wal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    if store == "postgres":
        fresh_target(env)
    child_env = {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "DLT_DATA_DIR": str(workdir / "dlt")}
    out = subprocess.run([python, "-c", CHILD, tool, store, peers.TABLE, str(path), str(workdir / "dlt")],
                         check=False, capture_output=True, text=True, env=child_env, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f"{tool} -> {store} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["rows"] != rows:
        raise SystemExit(f"{tool} -> {store} loaded {result['rows']} rows, not {rows}")
    print(f"{tool:<9} -> {store:<8} {result['seconds']:7.2f} s  peak {result['peak_mb']:6.0f} MB", file=sys.stderr)
    return result


def report(results: dict, rows: int, load: str, dlt_python: str | None) -> str:
    intro = (f"postgres_vs_peers.py's {rows:,}-row table (16 mixed columns) loaded into each store, one process "
             f"per load, one round. Load average when the run started: {load}, on 2 cores.")
    lines = ["<!-- section:stores -->", f"## Stores: {rows:,} PostgreSQL rows into DuckDB and PostgreSQL (issue 16)",
             "", intro, "",
             "| tool | store | seconds | rows/s | client CPU s | peak memory |", "|---|---|---:|---:|---:|---:|"]
    for (tool, store), r in results.items():
        lines.append(f"| {tool} | {store} | {r['seconds']:.2f} | {rows / r['seconds']:,.0f} | {r['cpu_s']:.2f} | "
                     f"{r['peak_mb']:,.0f} MB |")
    lines += ["", "purelink writes through each store's Destination (DuckDB: Arrow batches staged and swapped; "
              "PostgreSQL: ADBC binary COPY into a staging table, swapped in one transaction); dlt is `sql_table` "
              "with the pyarrow backend into its `duckdb` and `postgres` destinations"
              + ("" if dlt_python else " (not run: no interpreter with dlt was given)") + ".",
              "Reproduce: `python bench/stores.py --dlt-python PYTHON_WITH_DLT --write`.", "<!-- /section:stores -->"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dlt-python", help="an interpreter with dlt[duckdb,postgres,sql_database] installed")
    parser.add_argument("--write", action="store_true", help="add or rewrite the stores section of RESULTS.md")
    args = parser.parse_args()
    with postgres_server() as env:
        peers.prepare(env, args.rows)
        load = load_average()
        results = {}
        with tempfile.TemporaryDirectory(prefix="purelink-bench-") as tmp:
            for store in ("duckdb", "postgres"):
                results[("purelink", store)] = run_one(sys.executable, "purelink", store, args.rows, env, Path(tmp))
                if args.dlt_python:
                    results[("dlt", store)] = run_one(args.dlt_python, "dlt", store, args.rows, env, Path(tmp))
        text = report(results, args.rows, load, args.dlt_python)
        print(text)
        if args.write:
            write_section("stores", text)


if __name__ == "__main__":
    main()
