"""Where loaded data lives: one `Store` interface over DuckDB, PostgreSQL, BigQuery, MotherDuck
and Iceberg tables. `open(url)` picks the store a destination URL names.

    from purelink.storage import DuckDBStore
    db = DuckDBStore("data/purelink.duckdb")
    db.table("stripe.customers")
"""

from __future__ import annotations

from purelink.storage.base import Store, StoreURL, parse_url

__all__ = ["Store", "StoreURL", "parse_url"]
