"""A full refresh of API records, staged: its pages load into a staging table beside the table
(`_purelink_stage_<table>`, merged on the key like any page), and only a finished refresh
replaces the table, in one transaction together with the state it completes. A refresh that
stops, fails or is killed leaves the table's old rows as they were; the next run goes on filling
the staging table where the refresh stopped (the state says so) and swaps it in when done.

The SQL whole-table reload (`ArrowBatch` load="stage"/"swap") works the same way; this is the
same promise for REST pages, which arrive as rows over many commits.
"""

from __future__ import annotations

from typing import Any

from purelink.runtime import pg
from purelink.runtime.arrow_batch import stage_name
from purelink.runtime.destinations.base import Batch, SchemaChange
from purelink.runtime.destinations.duckdb_connection import text_literal
from purelink.runtime.destinations.shaping import quote, refresh_changes

__all__ = ["DuckDBStagedRefresh", "PostgresStagedRefresh", "stage_name"]


class DuckDBStagedRefresh:
    """For `DuckDBDestination`: the swap is a rename, so no row is copied and readers never see a mix."""

    con: Any
    _columns: dict
    target: Any  # DuckDBDestination's methods
    _table_columns: Any

    def begin_refresh(self, pipeline: str, stream: str, schema: str, table: str) -> bool:
        """The stream's state is forgotten (its generation survives: the refresh is the next one) and
        whatever an earlier, unfinished refresh staged is dropped; the table keeps its rows."""
        self.con.execute("BEGIN")
        try:
            self.con.execute("DELETE FROM _purelink.state WHERE pipeline = ? AND stream = ? "
                             "AND key <> 'generation'", [pipeline, stream])
            self.con.execute(f"DROP TABLE IF EXISTS {self.target(schema, stage_name(table))}")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self._columns.pop((schema, stage_name(table)), None)
        return True

    def _swap_staged(self, batch: Batch) -> list[SchemaChange]:
        from purelink.runtime.destinations.duckdb import SQL_TYPES

        s, target = batch.schema, self.target(batch.schema, batch.table)
        name = batch.replaces or stage_name(batch.table)
        staged = dict(self._table_columns(s, name))
        old = dict(self._table_columns(s, batch.table))
        self._columns.pop((s, batch.table), None)
        self._columns.pop((s, name), None)
        if not staged:  # the refresh found no records: the table is emptied, as a reload would
            if old:
                self.con.execute(f"DELETE FROM {target}")
            return []
        self.con.execute(f"DROP TABLE IF EXISTS {target}")
        self.con.execute(f"ALTER TABLE {self.target(s, name)} RENAME TO {quote(batch.table)}")
        # columns the recipe no longer selects go, recorded as "dropped" (see refresh_changes)
        return refresh_changes(batch, staged, old, SQL_TYPES) if old else []


class PostgresStagedRefresh:
    """For `PostgresDestination`: DELETE + INSERT from the staging table, so the table itself, its
    grants and the views built on it stay; readers see the old rows until the COMMIT."""

    cur: Any
    con: Any
    schema: str
    _columns: dict
    _table_columns: Any  # PostgresDestination's

    def begin_refresh(self, pipeline: str, stream: str, schema: str, table: str) -> bool:
        try:
            self.cur.execute("DELETE FROM _purelink.state WHERE pipeline = $1 AND stream = $2 "
                             "AND key <> 'generation'", parameters=[pipeline, stream])
            self.cur.execute(f"DROP TABLE IF EXISTS {pg.qualified(self.schema, stage_name(table))}")
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        self._columns.pop(stage_name(table), None)
        return True

    def _swap_staged(self, batch: Batch) -> list[SchemaChange]:
        name = batch.replaces or stage_name(batch.table)
        target, stage = pg.qualified(self.schema, batch.table), pg.qualified(self.schema, name)
        staged = dict(self._table_columns(name))
        old = dict(self._table_columns(batch.table))
        self._columns.pop(batch.table, None)
        self._columns.pop(name, None)
        if not staged:  # the refresh found no records: the table is emptied, as a reload would
            if old:
                self.cur.execute(f"DELETE FROM {target}")
            return []
        changes = []
        if not old:  # LIKE ... INCLUDING ALL: the key and its index get names of the table's own
            self.cur.execute(f"CREATE TABLE {target} (LIKE {stage} INCLUDING ALL)")
        else:
            self.cur.execute(f"DELETE FROM {target}")
            for column, kind in staged.items():  # the table is empty now: retyping converts nothing
                if column not in old:
                    self.cur.execute(f"ALTER TABLE {target} ADD COLUMN {pg.quote(column)} {kind}")
                    changes.append(SchemaChange(batch.stream, batch.table, column, "added", None, kind))
                elif old[column] != kind:
                    self.cur.execute(f"ALTER TABLE {target} ALTER COLUMN {pg.quote(column)} TYPE {kind} USING NULL")
                    changes.append(SchemaChange(batch.stream, batch.table, column, "widened", old[column], kind))
            # the comments pg_names gave the staging table's shortened columns (LIKE copied them above)
            for column, comment in pg.fetch(self.cur, "SELECT attname, col_description(attrelid, attnum) "
                                            "FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 "
                                            "AND col_description(attrelid, attnum) IS NOT NULL", [stage]):
                self.cur.execute(f"COMMENT ON COLUMN {pg.qualified(self.schema, batch.table, column)} "
                                 f"IS {text_literal(comment)}")
        names = ", ".join(pg.quote(c) for c in staged)
        self.cur.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM {stage}")
        self.cur.execute(f"DROP TABLE {stage}")
        return changes
