"""PostgreSQL -> BigQuery (emulator) and Iceberg (local files): purelink's runtime destinations.

    python bench/cloud_stores.py                # 1,000,000 rows of bench/postgres_vs_peers.py's table
    python bench/cloud_stores.py --rows 100000

Uses the server in PGHOST/PGPORT/PGUSER/PGPASSWORD when PGPORT is set, else starts one. The BigQuery
emulator is started by scripts/bq-emulator.sh. Each load runs in its own process (peak memory is
its own) and must land exactly ROWS rows. dlt is not compared: its BigQuery destination needs the
real service (it stages through Cloud Storage), and its Iceberg support goes through its
filesystem destination, which is not installed here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from postgres_vs_peers import ROOT, TABLE, prepare, server_env  # the bench folder is no package

CHILD = """
import json, resource, sys, time
from purelink.runtime.sources.postgres import PostgresSource, Table
from purelink.runtime.sql_pipeline import sql_run
kind, url, table, target = sys.argv[1:5]
if kind == "iceberg":
    from purelink.runtime.destinations.iceberg import IcebergDestination
    dest = IcebergDestination({"uri": f"sqlite:///{target}/catalog.db", "warehouse": f"file://{target}"})
else:
    from purelink.runtime.destinations.bigquery import BigQueryDestination
    dest = BigQueryDestination("bench", "rows", endpoint=target)
started = time.monotonic()
finished = sql_run(PostgresSource(url=url, password="PGPASSWORD"), [Table(table)], pipeline="bench",
                   destination=dest, schema="public")
assert finished["status"] == "success", finished.get("error")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps({"seconds": round(time.monotonic() - started, 2), "records": finished["records"], "peak_mb": peak}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    env, started_dir = server_env()
    prepare(env, args.rows)
    url = f"postgresql://{env['PGUSER']}@{env['PGHOST']}:{env['PGPORT']}/postgres"
    emulator = subprocess.run(["bash", str(ROOT / "scripts" / "bq-emulator.sh"), "start"], check=True,
                              capture_output=True, text=True).stdout
    found = dict(line.removeprefix("export ").split("=", 1) for line in emulator.splitlines())
    endpoint, pid = found["BQ_EMULATOR_URL"].strip("'"), found["BQ_EMULATOR_PID"].strip("'")
    try:
        with tempfile.TemporaryDirectory() as work:
            for kind, target in (("iceberg", work), ("bigquery", endpoint)):
                started = time.monotonic()
                out = subprocess.run([sys.executable, "-c", CHILD, kind, url, TABLE, target], capture_output=True,
                                     text=True, env={**env, "PYTHONPATH": str(ROOT)}, timeout=3600, check=False)
                if out.returncode != 0:
                    print(f"{kind}: failed after {time.monotonic() - started:.0f} s: {out.stderr[-1500:]}")
                    continue
                result = json.loads(out.stdout.strip().splitlines()[-1])
                assert result["records"] == args.rows, result
                print(f"| {kind} | {args.rows:,} | {result['seconds']} | {args.rows / result['seconds']:,.0f} | "
                      f"{result['peak_mb']} MB |", flush=True)
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "bq-emulator.sh"), "stop", pid], check=False)
        if started_dir:
            subprocess.run(["bash", str(ROOT / "scripts" / "postgres-up.sh"), "stop", started_dir], check=False)


if __name__ == "__main__":
    main()
