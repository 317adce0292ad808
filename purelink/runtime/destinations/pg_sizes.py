"""The warehouse's size, as the heartbeat shows it while a run loads."""

from __future__ import annotations

import threading
from typing import Any

from purelink.runtime import pg


class PostgresSizes:
    """For `PostgresDestination`: `storage_bytes` is asked by the heartbeat thread while the writer
    holds `con` in a transaction. A libpq connection is not for two threads (a run hung on it), and
    a commit there would end the writer's transaction half way, so sizes are read on a connection of
    their own, opened on first use and closed with the destination."""

    url: str
    password: str | None
    schema: str
    con: Any
    _bytes: int
    _sizes: Any  # that connection
    _sizes_lock: threading.Lock  # held while measuring and while closing

    def storage_bytes(self) -> int:
        with self._sizes_lock:
            if self.con is None:
                return self._bytes
            try:
                if self._sizes is None:
                    self._sizes = pg.connect(self.url, password=self.password, role="warehouse")
                self._bytes = self._measure(self._sizes)
            except pg.driver().Error:  # a size is nice to have: the last one stands
                pass
            return self._bytes

    def _measure(self, con: Any = None) -> int:
        cur = (con := con or self.con).cursor()
        try:
            rows = pg.fetch(cur, "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
                                 "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE n.nspname = $1 AND c.relkind = 'r'", [self.schema])
            con.commit()
        finally:
            cur.close()
        return int(rows[0][0])
