"""Warehouse columns that an earlier version wrote in a mangled form of their source type.

Before the fidelity fixes, a PostgreSQL source landed `money` as integer cents, `numeric` without
precision as text, and types such as inet, tsvector or timetz as PostgreSQL's binary wire bytes
(bytea). Loading today's values next to those would mix two forms in one column (or cast the new
values back into the old form). What can be converted in place is converted, in the load's own
transaction; wire bytes cannot be read back, so such a column is retyped only when the table is
empty or about to be replaced whole (a full refresh), and otherwise the run says how to get there.
"""

from __future__ import annotations

from typing import Any

from purelink.runtime import pg
from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.formats import UNITS, max_value

TEXT = {"text", "character varying"}
INTEGER = {"bigint", "integer"}


def conversion(column: str, old: str, new: str) -> str | None:
    """The USING expression that turns an old mangled column into its source type, or None when
    the pair is not one an earlier version produced (a real schema change, handled elsewhere)."""
    q = pg.quote(column)
    if old in INTEGER and new == "money":
        return f"({q}::numeric / 100)::money"  # integer cents
    if old in TEXT and new not in TEXT and new not in ("bytea", "jsonb", "json"):
        return f"{q}::{new}"  # the exact text form, which PostgreSQL reads back as the type
    return None


def migrate(cur: Any, target: str, column: str, old: str, new: str, *, replacing: bool) -> bool:
    """Retype one column from its old mangled form; True when it was changed. `replacing` says
    every row of the table is about to be replaced, so old values need no conversion."""
    if old == new:
        return False
    if old == "bytea" or replacing:
        if not replacing and pg.fetch(cur, f"SELECT EXISTS (SELECT FROM {target})")[0][0]:
            raise RuntimeFailure(
                f"Column {column} of {target} holds PostgreSQL wire bytes from an earlier version; its values "
                f"now arrive as {new}, and the bytes cannot be converted.",
                "Run the recipe once with --full-refresh: the table is reloaded with its source types "
                f"(or drop it: DROP TABLE {target}).")
        if old != "bytea" and conversion(column, old, new) is None:
            return False
        cur.execute(f"ALTER TABLE {target} ALTER COLUMN {pg.quote(column)} TYPE {new} USING NULL")
        return True
    using = conversion(column, old, new)
    if using is None:
        return False
    cur.execute("SAVEPOINT purelink_migrate")
    try:
        cur.execute(f"ALTER TABLE {target} ALTER COLUMN {pg.quote(column)} TYPE {new} USING {using}")
    except pg.driver().Error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT purelink_migrate")
        raise RuntimeFailure(
            f"Column {column} of {target} was written by an earlier version as {old}; converting it to {new} "
            f"failed: {pg.first_line(exc)}",
            "Run the recipe once with --full-refresh: the table is reloaded with its source types.") from None
    cur.execute("RELEASE SAVEPOINT purelink_migrate")
    return True


def epoch_using(column: str, old: str, new: str, unit: str | None) -> str | None:
    """The USING expression that turns a bigint column of Unix times (how a declared time field was
    stored before it was typed) into timestamptz, or None when the column is not such a case.

    Whole seconds and the remainder as two exact intervals (to_timestamp goes through a float);
    a value no API means as a time (negative, past year 9999) becomes NULL, as on arrival.
    """
    if old not in INTEGER or new != "timestamptz" or unit is None:
        return None
    q, per = pg.quote(column), UNITS[unit]
    return (f"CASE WHEN {q} BETWEEN 0 AND {max_value(unit)} THEN timestamptz '1970-01-01 00:00:00+00' "
            f"+ ({q} / {per}) * interval '1 second' + ({q} % {per}) * interval '{1_000_000 // per} microseconds' END")
