"""What the previous run of a pipeline tells the next one: its record count, the first guess of
the total before this run's own figures say anything."""

from __future__ import annotations

from pathlib import Path


def previous_records(db_path: Path | str, pipeline: str) -> int | None:
    """Records of the last finished full run of this pipeline (a first sync or a full refresh),
    read from `_purelink.executions`; None when there is none or the file cannot be read now."""
    path = Path(db_path)
    if not path.exists():
        return None
    try:
        import duckdb

        con = duckdb.connect(str(path), read_only=True)
        try:
            row = con.execute(
                "SELECT records FROM _purelink.executions WHERE pipeline = ? AND status = 'success' "
                "AND mode IN ('full_refresh', 'incremental') AND records > 0 "
                "ORDER BY started_at DESC LIMIT 1", [pipeline]).fetchone()
        finally:
            con.close()
    except Exception:  # noqa: BLE001 - busy or older file: the estimate simply goes without it
        return None
    return int(row[0]) if row else None
