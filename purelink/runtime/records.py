"""From API records to typed columns: selection (nested paths included), type inference, Arrow.

Types form a small lattice so a column can only widen: boolean < bigint < double < varchar < json,
with timestamptz (ISO 8601 strings) widening to varchar, and booleans meeting numbers too (`true`
kept as `true`, not 1). Objects and arrays stay whole as JSON.
"""

from __future__ import annotations

import calendar
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import pyarrow as pa

EXACT = 2**53  # integers a DOUBLE holds exactly: -EXACT..EXACT
# An exponent of 3 digits: perhaps a number past a double's range. Not anchored on the digit before it:
# that made the search 3 times slower (0.5 ms a page of 100 customers); text that matches costs only
# the slower parse.
BEYOND = re.compile(r"[eE][+-]?\d{3}")
# What orjson would read otherwise, silently: an integer past 64 bits (19 digits in a row) as a
# double (123456789012345678901234567890 as 1.2345678901234568e+29), a number under a double's
# range (a 3-digit negative exponent, or 19 zeros) as 0.0. Such a body takes the standard parser.
# (A number over the range it refuses; so does the standard way, via BEYOND.) Looked for in the
# body's bytes with every digit made 0, every e made e, '-' kept and the rest made blank: two
# substring searches, a tenth of a millisecond a page where a regular expression took one.
SHAPE = bytes(48 if 48 <= i <= 57 else 101 if i in (69, 101) else 45 if i == 45 else 32 for i in range(256))
UNSAFE = (b"0" * 19, b"e-000")
ORDER = {"null": 0, "boolean": 1, "bigint": 2, "double": 3, "varchar": 4, "json": 5}
ISO_TS = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?"
                    r"(Z|[+-]\d{2}:?\d{2})$")
DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
INT64 = (-(2**63), 2**63 - 1)
NUMBERS = ("bigint", "double")


def column_name(path: str) -> str:
    """`address.city` is stored as column `address_city`."""
    return path.replace(".", "_")


ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def folded(name: str) -> str:
    """A column name as DuckDB compares names: ASCII letters without case (`Email` is `email`),
    every other letter as it is (`Ä` and `ä` are two columns)."""
    return name.translate(ASCII_LOWER)


def clash(paths: Sequence[str]) -> tuple[str, str] | None:
    """Two chosen fields one column would hold (`address.city` and `address_city`; `Email` and
    `email`, as the database folds case), else None: the second's values would overwrite the first's."""
    seen: dict[str, str] = {}
    for path in paths:
        if (first := seen.setdefault(folded(column_name(path)), path)) != path:
            return first, path
    return None


def select(record: dict, columns: Sequence[str] | None) -> dict:
    """The chosen fields of a record; nested paths are read through objects."""
    if columns is None:
        return record
    row = {}
    for path in columns:
        value: Any = record
        if path in record:  # a field whose own name has a dot (`"props.plan": ...`)
            value = record[path]
        else:
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        row[column_name(path)] = value
    return row


def has_path(record: Any, path: str) -> bool:
    """Whether the record has the (dotted) field at all, null or not."""
    if isinstance(record, dict) and path in record:
        return True
    for part in path.split("."):
        if not isinstance(record, dict) or part not in record:
            return False
        record = record[part]
    return True


def paths(record: Any, prefix: str = "", depth: int = 3) -> list[str]:
    """The record's field paths (`address.city`), nested objects to `depth` levels."""
    if not isinstance(record, dict) or depth == 0:
        return []
    found = []
    for name, value in record.items():
        found.append(prefix + str(name))
        found.extend(paths(value, f"{prefix}{name}.", depth - 1))
    return found


def is_instant(text: str) -> bool:
    """An ISO 8601 instant a TIMESTAMPTZ column can hold: a date and time that exist (not 30 February,
    not a leap second, which DuckDB refuses, failing the whole load); other text stays text."""
    found = ISO_TS.match(text)
    if found is None:
        return False
    month, day = int(found[1]), int(found[2])
    return day <= 28 or (day <= DAYS[month - 1] and (month != 2 or calendar.isleap(int(text[:4]))))


def value_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint" if INT64[0] <= value <= INT64[1] else "varchar"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "timestamptz" if is_instant(value) else "varchar"
    return "json"


def widen(a: str, b: str) -> str:
    """The narrowest type holding values of both types."""
    if a == b:
        return a
    if a == "null":
        return b
    if b == "null":
        return a
    if "timestamptz" in (a, b):
        other = b if a == "timestamptz" else a
        return "json" if other == "json" else "varchar"
    if "boolean" in (a, b) and (a in NUMBERS or b in NUMBERS):
        return "varchar"  # a BIGINT would store true as 1: text keeps each value as the API wrote it
    return a if ORDER[a] >= ORDER[b] else b


def loads(text: str, utf8: bytes | None = None) -> Any:
    """JSON text as Python values. A number past a double's range (1e400, 1e-400) stays its text,
    where json.loads reads infinity or zero.

    orjson parses a page in half the time of json.loads, and reads what it accepts to the same
    values (every double identical). What it refuses goes to json.loads, which gives the values or
    the error the page always had: lone surrogates (`"\\ud800"`), NaN and Infinity, 1e400. A body it
    would read otherwise never reaches it (see UNSAFE). `utf8`: the same text as UTF-8, if at hand."""
    shape = (text.encode("utf-8", "surrogatepass") if utf8 is None else utf8).translate(SHAPE)
    if not any(pattern in shape for pattern in UNSAFE):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    if BEYOND.search(text) is not None or UNSAFE[0] in shape:  # 1e400, 0.(400 zeros)1
        return json.loads(text, parse_float=_exact_float, parse_constant=NonFinite)
    return json.loads(text, parse_constant=NonFinite)


class NonFinite(float):
    """NaN, Infinity or -Infinity as an API wrote them (not JSON, but json.loads reads them): a
    float, which orjson refuses to write, so `json_text` writes it as json.dumps does (`NaN`), where
    orjson would write null."""


def _exact_float(literal: str) -> float | str:
    value = float(literal)
    lost = math.isinf(value) or (value == 0 and re.search(r"[1-9]", re.split("[eE]", literal)[0]))
    return literal if lost else value


def infer_types(rows: Iterable[dict]) -> dict[str, str]:
    """Column -> type over all rows, in first-seen column order. A column of numbers holding an
    integer a DOUBLE would round (past 2**53 either way) is text: every value exactly as sent."""
    rows = rows if isinstance(rows, list) else list(rows)
    types: dict[str, str] = {}
    for row in rows:
        for key, value in row.items():
            kind = types.get(key, "null")
            # A value never narrows a column: text cannot change a varchar column, nothing a json
            # one, so the timestamp pattern is not tried on every string of a text column.
            if kind == "json" or (kind == "varchar" and (value is None or type(value) is str)):
                continue
            types[key] = widen(kind, value_type(value))
    for key, kind in types.items():
        if kind == "double" and any(beyond_double(row.get(key)) for row in rows):
            types[key] = "varchar"
    return types


def beyond_double(value: Any) -> bool:
    """An integer a DOUBLE column would round."""
    return type(value) is int and not -EXACT <= value <= EXACT


_json_text = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_text(value: Any) -> str:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=False)` in a tenth of its time: orjson,
    which writes the same JSON (doubles as `1e16` where Python writes `1e+16`, the same number).
    It refuses an integer past 64 bits and text with a lone surrogate; those take json's encoder."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _json_text(value)


def _convert(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "json":
        return json_text(value)
    if kind in ("varchar", "timestamptz"):
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json_text(value)
        return str(value)
    if kind == "double":
        return float(value)
    if kind == "bigint":
        return int(value)
    return value


#: the Python type Arrow takes as it is for a column of each type (a column of these needs no conversion)
NATIVE = {"boolean": bool, "bigint": int, "double": float, "varchar": str, "timestamptz": str, "null": type(None)}


def to_arrow(rows: Sequence[dict], types: dict[str, str]) -> pa.Table:
    """Columns built in one pass each; JSON and timestamps travel as text and are cast in SQL."""
    # Imported here, not at the top: `purelink recipes run` reaches this module through the
    # connector specs and code generation, which never build a table, and pyarrow's import is
    # the largest part of that command's start (about 0.5 s of 1.5 s).
    import pyarrow as pa

    arrow = {"boolean": pa.bool_(), "bigint": pa.int64(), "double": pa.float64(), "varchar": pa.string(),
             "json": pa.string(), "timestamptz": pa.string(), "null": pa.string()}
    arrays = []
    for name, kind in types.items():
        values = [row.get(name) for row in rows]
        if kind == "json":
            values = [None if v is None else json_text(v) for v in values]
        elif any(v is not None and type(v) is not NATIVE[kind] for v in values):
            values = [_convert(v, kind) for v in values]  # mixed (an int in a double column): converted one by one
        arrays.append(pa.array(values, type=arrow[kind]))
    return pa.Table.from_arrays(arrays, names=list(types))


def _same_key(value: Any) -> Any:
    """A key value as the table will hold it once its column is text: 1, 1.0 and "1" are one record;
    a value no key can be (an object: a dead letter later) by its text, so it can still be compared."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, (str, float, bool, type(None))) else repr(value)


def key_of(record: dict, key: Sequence[str]) -> tuple:
    """The record's primary key as records are told apart (see `_same_key`)."""
    return tuple(_same_key(record.get(k)) for k in key)


def dedupe(rows: list[dict], key: Sequence[str]) -> list[dict]:
    """Keep the last row for each primary key (a page can repeat a record that changed).

    A row whose key is missing or null matches nothing, so it is never folded into another;
    the extractor dead-letters such records before they get here.
    """
    if not key:
        return rows
    seen: dict[tuple, int] = {}
    keyless = []
    for i, row in enumerate(rows):
        ident = key_of(row, key)
        if None in ident:
            keyless.append(i)
        else:
            seen[ident] = i
    if len(seen) + len(keyless) == len(rows):
        return rows
    keep = sorted([*seen.values(), *keyless])
    return [rows[i] for i in keep]
