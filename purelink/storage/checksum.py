"""A table's content as one digest that two stores agree on when they hold the same rows.

Stores spell the same value differently (JSON text `{"a":1}` in DuckDB, `{"a": 1}` from a jsonb,
a timestamp in the session's zone or in UTC), and return rows in no set order. Each value is put
in one canonical form, each row hashed, and the sorted row hashes hashed again, so the digest
depends on the rows alone: `migrate` and the tests compare stores value by value through it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa


def canonical(value: Any) -> Any:
    """`value` in the one form every store's reading of it gives."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str):
        if value[:1] in ("{", "["):  # JSON text: each store spaces and orders keys its own way
            try:
                return canonical(json.loads(value))
            except ValueError:
                return value
        return value
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return str(value)


def checksum(data: pa.Table, *, exclude: Iterable[str] = ()) -> str:
    """The digest of `data`'s rows, whatever their order; columns in `exclude` (or starting with
    one of its entries ending in `*`) left out."""
    skip = set(exclude)
    prefixes = tuple(s[:-1] for s in skip if s.endswith("*"))
    names = sorted(c for c in data.column_names if c not in skip and not (prefixes and c.startswith(prefixes)))
    columns = [data.column(c).to_pylist() for c in names]
    digests = sorted(hashlib.sha256(json.dumps([canonical(v) for v in row], separators=(",", ":"),
                                               default=str).encode()).digest()
                     for row in zip(*columns)) if columns else []
    whole = hashlib.sha256(json.dumps(names).encode())
    for d in digests:
        whole.update(d)
    return whole.hexdigest()[:16]
