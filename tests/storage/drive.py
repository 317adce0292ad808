"""Run a pipeline into a cloud store's Destination, as a generated module would once recipes name
such stores: `python drive.py SPEC.json`. The spec says which source (the sandbox's Stripe
customers + charges, or PostgreSQL tables) and which destination; events go to stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def destination(spec: dict):
    kind = spec["destination"]["kind"]
    if kind == "iceberg":
        from purelink.runtime.destinations.iceberg import IcebergDestination

        return IcebergDestination(spec["destination"]["properties"])
    if kind == "bigquery":
        from purelink.runtime.destinations.bigquery import BigQueryDestination

        d = spec["destination"]
        return BigQueryDestination(d["project"], d["dataset"], endpoint=d.get("endpoint"))
    from purelink.runtime.destinations.duckdb_arrow import DuckDBArrowDestination

    return DuckDBArrowDestination(spec["destination"]["path"])


def stripe(spec: dict) -> dict:
    from purelink.runtime import BearerAuth, CursorPagination, RestSource, Stream, TimeFilter
    from purelink.runtime.pipeline import run

    source = RestSource(name="stripe", base_url=spec["base_url"], auth=BearerAuth(secret="STRIPE_API_KEY"),
                        paginator=CursorPagination(cursor_param="starting_after", cursor_field="id",
                                                   has_more_path="has_more", limit_param="limit", page_size=100),
                        rate_limit=spec.get("rate_limit", 1000.0))
    streams = [Stream(name, path=f"/{name}", time_filter=TimeFilter("created", gte="created[gte]", lt="created[lt]"),
                      start="2020-01-01", lookback_s=3600) for name in spec.get("streams", ["customers", "charges"])]
    return run(source, streams, pipeline=spec.get("pipeline", "stripe_pay"), destination=destination(spec),
               concurrency=spec.get("concurrency"))


def plants(spec: dict) -> dict:
    from purelink.runtime.sources.postgres import PostgresSource, Table
    from purelink.runtime.sql_pipeline import sql_run

    servers = [PostgresSource(url=s["url"], password=s["password"], name=s["name"]) for s in spec["servers"]]
    # one stream name per server: the name keys the stream's state
    streams = [Table(f"{s.name}_production", "public.production", source=s) for s in servers]
    return sql_run(servers[0], streams, pipeline=spec.get("pipeline", "manufacturing"), destination=destination(spec),
                   schema="raw")


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    finished = stripe(spec) if spec["source"] == "stripe" else plants(spec)
    sys.exit(0 if finished["status"] == "success" else 1)
