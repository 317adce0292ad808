"""How each PostgreSQL column type is read, and what it becomes in DuckDB and in the warehouse.

The ADBC driver decodes the common types into faithful Arrow (integers, floats, text, bytea,
dates and timestamps, time, interval, uuid, json, one-dimensional arrays). Every other type
reaches it as PostgreSQL's binary wire bytes, which no destination can read back. So the source
decides per column, from the catalog, what to SELECT:

- the column as it is, where the driver decodes it faithfully;
- `col::text` (the type's exact text form), where neither Arrow nor DuckDB has the type: inet,
  tsvector, xml, ranges, geometry, pg_lsn...; DuckDB gets a cast where it has the type (timetz,
  bit); the warehouse declares the source's type and casts the text back;
- `to_jsonb(col)` for composites (named fields), `col::numeric` for money, `col::bigint` for oid.

Numeric and array columns also depend on their values (NaN, digits beyond DuckDB's 38, arrays
of more than one dimension): one aggregate query over the stream decides those (`profile`).
The decision travels to the destinations in each Arrow field's metadata (`WAREHOUSE`, `DUCKDB`).
docs/types.md holds the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from purelink.runtime import pg

WAREHOUSE = b"purelink:warehouse"  # the warehouse column type (format_type spelling)
DUCKDB = b"purelink:duckdb"  # a DuckDB type the column is cast to when loaded; absent: as Arrow says
DECIMAL = b"purelink:decimal"  # "p,s": text numerals that become decimal128(p,s)
EXACT_TEXT = b"purelink:exact-text"  # the column still holds text numerals, cast to DECIMAL on delivery
MAX_DECIMAL = 38

# Types the driver turns into faithful Arrow values (timestamps and dates with infinities are
# repaired by arrow_batch.normalize).
NATIVE = {"bool", "int2", "int4", "int8", "float4", "float8", "text", "varchar", "bpchar", "char", "name",
          "bytea", "date", "time", "timestamp", "timestamptz", "interval", "uuid", "json", "jsonb"}
TEMPORAL = {"date", "timestamp", "timestamptz"}
DUCKDB_CAST = {"timetz": "TIMETZ", "bit": "BIT", "varbit": "BIT"}
# Types whose cast to text is not their output: inet::text adds /32 to a host address.
OUTPUT_FORM = {"inet"}
# Text forms whose meaning depends on the source database (object names, transaction ids of
# another server): the warehouse keeps them as text rather than resolve them against itself.
LOCAL_MEANING = {"regclass", "regproc", "regprocedure", "regoper", "regoperator", "regtype", "regconfig",
                 "regdictionary", "regnamespace", "regrole", "regcollation"}


@dataclass
class PgType:
    """One resolved type: domains are replaced by their base type."""

    oid: int
    name: str  # pg_type.typname
    kind: str  # typtype: b base, c composite, e enum, r range, m multirange, p pseudo
    category: str  # typcategory: A array, N numeric...
    declared: str  # format_type(oid, typmod): `numeric(12,3)`, `bit(4)`, `integer[]`
    builtin: bool  # lives in pg_catalog, so the warehouse has it too
    typmod: int
    element: PgType | None = None


@dataclass
class ColumnRead:
    """How one column is selected from the source and declared in each destination."""

    name: str
    type: PgType
    expression: str  # the SELECT expression, aliased to the column name by the caller
    warehouse: str
    duckdb: str | None = None
    decimal: tuple[int, int] | None = None
    note: str | None = None  # said once as a warning: what the user should know about this column
    # numeric without precision: each value has its own scale (1.000 is not 1 in PostgreSQL's
    # text), which a decimal128(38,s) cannot hold; the text travels and only DuckDB & co. cast it
    exact_text: bool = False

    def select(self) -> str:
        return f"{self.expression} AS {pg.quote(self.name)}"

    def metadata(self) -> dict[bytes, bytes]:
        meta = {WAREHOUSE: self.warehouse.encode()}
        if self.duckdb:
            meta[DUCKDB] = self.duckdb.encode()
        if self.decimal:
            meta[DECIMAL] = f"{self.decimal[0]},{self.decimal[1]}".encode()
        if self.exact_text:
            meta[EXACT_TEXT] = b"1"
        return meta


def resolve(cur: Any, oid: int, typmod: int, cache: dict | None = None) -> PgType:
    """The catalog's description of a type; a domain resolves to its base (with its typmod).
    `cache` spares a round trip per column when many columns share a type."""
    cache = {} if cache is None else cache
    if (oid, typmod) not in cache:
        cache[oid, typmod] = _resolve(cur, oid, typmod, cache)
    return cache[oid, typmod]


def _resolve(cur: Any, oid: int, typmod: int, cache: dict) -> PgType:
    row = pg.fetch(cur, "SELECT typname::text, typtype::text, typcategory::text, typelem::bigint, typbasetype::bigint, "
                        "typtypmod, typnamespace = 'pg_catalog'::regnamespace, format_type(oid, $2::int) "
                        "FROM pg_type WHERE oid = $1::bigint::oid", [oid, typmod])
    if not row:
        return PgType(oid, "unknown", "b", "X", "text", False, typmod)
    name, kind, category, elem, base, base_typmod, builtin, declared = row[0]
    if kind == "d":
        return resolve(cur, int(base), int(base_typmod), cache)
    element = resolve(cur, int(elem), typmod, cache) if category == "A" and elem else None
    if element is not None:
        builtin = element.builtin
        declared = f"{element.declared}[]"  # an array of a domain is an array of its base
    return PgType(int(oid), name, kind, category, declared, bool(builtin), typmod, element)


def column_types(cur: Any, probe: Any, table: tuple[str, str] | None) -> dict[str, PgType]:
    """Each probed column's type: from pg_attribute for a table (typmods included), else from the
    driver's field metadata (a query's result has no catalog entry)."""
    found: dict[str, tuple[int, int]] = {}
    if table is not None:
        rows = pg.fetch(cur, "SELECT attname::text, atttypid::bigint, atttypmod FROM pg_attribute "
                             "WHERE attrelid = to_regclass(format('%I.%I', $1::text, $2::text)) "
                             "AND attnum > 0 AND NOT attisdropped", list(table))
        found = {name: (int(oid), int(typmod)) for name, oid, typmod in rows}
    types: dict = {}
    cache: dict = {}
    for field in probe:
        if field.name in found:
            oid, typmod = found[field.name]
        else:
            meta = field.metadata or {}
            typname = meta.get(b"POSTGRESQL:type", b"text").decode()
            typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1"))
            if typname.startswith("unnamed<oid:"):
                oid = int(typname.removeprefix("unnamed<oid:").rstrip(">"))
            else:
                oid = int(pg.fetch(cur, "SELECT coalesce(to_regtype($1::text)::oid, 'text'::regtype::oid)::bigint",
                                   [typname])[0][0])
        types[field.name] = resolve(cur, oid, typmod, cache)
    return types


def _profile_items(name: str, kind: PgType) -> list[tuple[str, str]]:
    """(key, aggregate) pairs whose answers decide the column's read; empty when the type decides."""
    col = pg.quote(name)
    if kind.name in ("numeric", "money"):
        value = f"{col}::numeric"
        finite = f"{value} NOT IN ('NaN', 'Infinity', '-Infinity')"
        return [("special", f"bool_or(NOT ({finite}))"),
                ("scale", f"max(scale({value})) FILTER (WHERE {finite})"),
                ("digits", f"max(length(trunc(abs({value}))::text)) FILTER (WHERE {finite})")]
    if kind.category == "A" and kind.name.startswith("_") and kind.element is not None and kind.element.kind != "c":
        items = [("nested", f"bool_or(array_ndims({col}) > 1 OR array_lower({col}, 1) <> 1)")]
        if kind.element.name in TEMPORAL:
            items.append(("infinite", f"bool_or(EXISTS (SELECT FROM unnest({col}) e WHERE NOT isfinite(e)))"))
        return items
    return []


def profile(cur: Any, relation: str, types: dict[str, PgType]) -> dict[str, dict[str, Any]]:
    """One aggregate scan answering, per numeric or array column, what its values need."""
    wanted = [(name, key, sql) for name, kind in types.items() for key, sql in _profile_items(name, kind)]
    if not wanted:
        return {}
    row = pg.fetch(cur, f"SELECT {', '.join(sql for _, _, sql in wanted)} FROM {relation}")[0]
    answers: dict[str, dict[str, Any]] = {}
    for (name, key, _), value in zip(wanted, row):
        answers.setdefault(name, {})[key] = value
    return answers


def plan_columns(types: dict[str, PgType], facts: dict[str, dict[str, Any]]) -> list[ColumnRead]:
    return [read_rule(name, kind, facts.get(name, {})) for name, kind in types.items()]


def _warehouse(kind: PgType) -> str:
    """The warehouse keeps built-in types; a user type (enum, user range) there is its text form."""
    base = kind.element or kind
    if base.kind == "c":
        return "jsonb"
    if base.kind == "p":  # a query's anonymous record or unknown literal: no column can have that type
        return "text[]" if kind.element is not None else "text"
    if base.builtin and base.name not in LOCAL_MEANING:
        return kind.declared
    return "text[]" if kind.element is not None else "text"


def read_rule(name: str, kind: PgType, facts: dict[str, Any]) -> ColumnRead:
    """The read of one column: see the module docstring and docs/types.md."""
    col = pg.quote(name)
    text = ColumnRead(name, kind, _text_form(col, kind.name), _warehouse(kind), DUCKDB_CAST.get(kind.name))
    if kind.kind == "c" or (kind.element is not None and kind.element.kind == "c"):
        return ColumnRead(name, kind, f"to_jsonb({col})", "jsonb")
    if kind.name in ("numeric", "money"):
        return _numeric(name, kind, facts)
    if kind.name == "oid":
        return ColumnRead(name, kind, f"{col}::bigint", "oid")  # unsigned: an int4 would wrap past 2^31
    if kind.element is not None and kind.name.startswith("_"):  # int2vector & co. have no ::text[] cast
        if facts.get("nested"):
            text.note = (f"column {name} holds arrays of more than one dimension (or not starting at 1): "
                         "DuckDB gets their exact text form")
            return text
        if kind.element.name in NATIVE and not facts.get("infinite"):
            return ColumnRead(name, kind, col, _warehouse(kind))
        if kind.element.name in OUTPUT_FORM:
            elements = (f"ARRAY(SELECT {_text_form('e', kind.element.name)} FROM unnest({col}) "
                        "WITH ORDINALITY AS u(e, i) ORDER BY i)")
            return ColumnRead(name, kind, f"CASE WHEN {col} IS NOT NULL THEN {elements} END", _warehouse(kind))
        return ColumnRead(name, kind, f"{col}::text[]", _warehouse(kind))
    if kind.name in NATIVE:
        return ColumnRead(name, kind, col, _warehouse(kind))
    return text


def _text_form(col: str, typename: str) -> str:
    """The type's text as its output function writes it (what psql shows)."""
    if typename in OUTPUT_FORM:  # format() calls the output function; NULL would become ''
        return f"CASE WHEN {col} IS NOT NULL THEN format('%s', {col}) END"
    return f"{col}::text"


def _numeric(name: str, kind: PgType, facts: dict[str, Any]) -> ColumnRead:
    """numeric(p,s) and money become DECIMAL where every value fits 38 digits; otherwise the exact text."""
    col = pg.quote(name)
    warehouse = "money" if kind.name == "money" else kind.declared
    read = ColumnRead(name, kind, f"{col}::numeric::text", warehouse)
    if facts.get("special"):
        read.note = f"column {name} holds NaN or Infinity, which DECIMAL cannot: DuckDB gets its exact text form"
        return read
    if kind.name == "numeric" and kind.typmod >= 4:
        precision, scale = ((kind.typmod - 4) >> 16) & 0xFFFF, (kind.typmod - 4) & 0xFFFF
        if 0 < precision <= MAX_DECIMAL and 0 <= scale <= precision:
            read.decimal = (precision, scale)
            return read
    if facts.get("digits") is None:  # no value yet: room for the usual scales of money and measures
        scale, digits = 9, 1
    else:
        scale, digits = int(facts.get("scale") or 0), int(facts["digits"])
    if digits + scale > MAX_DECIMAL:
        read.note = f"column {name} holds values wider than 38 digits: DuckDB gets their exact text form"
        return read
    read.decimal = (MAX_DECIMAL, scale)
    read.exact_text = kind.name == "numeric"
    return read
