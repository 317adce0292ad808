"""Record validations. A record that fails one goes to `_purelink.dead_letters` with the reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from purelink.runtime.records import folded

RESERVED = ("_purelink_", "_airbyte_")  # prefixes of the metadata columns on every loaded row
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,),
}


@dataclass(frozen=True)
class Validation:
    """`required` (present and not null), `email` (when present) or `type` (when present)."""

    kind: str
    field: str
    type: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("required", "email", "type"):
            raise ValueError(f"unknown validation {self.kind!r}: use required, email or type")
        if self.kind == "type" and self.type not in TYPES:
            raise ValueError(f"validation type must be one of {', '.join(TYPES)}")

    def failure(self, record: dict) -> str | None:
        value: Any = record
        for part in self.field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if self.kind == "required":
            return None if value is not None and value != "" else f"{self.field} is required"
        if value is None:
            return None
        if self.kind == "email":
            ok = isinstance(value, str) and EMAIL.match(value) is not None
            return None if ok else f"{self.field} is not an email address: {str(value)[:80]!r}"
        expected = TYPES[self.type or ""]  # __post_init__ made sure a type check names a known type
        ok = isinstance(value, expected) and not (self.type in ("integer", "number") and isinstance(value, bool))
        return None if ok else f"{self.field} should be {self.type}, got {type(value).__name__}"


def first_failure(record: dict, validations: tuple[Validation, ...] | list[Validation]) -> str | None:
    for validation in validations:
        reason = validation.failure(record)
        if reason:
            return reason
    return None


def record_problem(record: Any, key: tuple[str, ...], *, check_text: bool = False,
                   check_names: bool = True) -> str | None:
    """Why a record cannot be loaded whatever the recipe says, or None.

    These hold for every stream: a record that is not an object, one without its primary key
    (merge could never match it, so it would be appended again on every run), one whose key is
    an object or an array, and, when the page held suspect bytes, one with text that is not
    valid Unicode. With `check_names` (every field becomes a column), also one with two fields
    differing only in case (a database folds case in column names) or a field without a name.
    """
    if not isinstance(record, dict):
        return f"the record is {json_kind(record)}, not an object"
    for k in key:
        if k not in record:
            return f"primary key {k} is missing"
        if record[k] is None or record[k] == "":
            return f"primary key {k} is null"
        if isinstance(record[k], (dict, list)):
            return f"primary key {k} is {json_kind(record[k])}, not a single value"
    seen: dict[str, str] = {}
    for name in record if check_names else ():
        if not name.strip():
            return "a field has an empty name; a table cannot hold it as a column"
        if name.lower().startswith(RESERVED):
            return f"field {name!r} has the name of a metadata column the loader writes itself"
        other = seen.setdefault(folded(name), name)
        if other != name:
            return f"fields {other!r} and {name!r} differ only in case; a table cannot hold both as columns"
    if check_text:
        where = bad_text(record)
        if where is not None:
            return f"{where} holds text that is not valid Unicode (invalid UTF-8 or a lone surrogate)"
    return None


def names_need_checking(records: list) -> bool:
    """Whether any field name on a page could be refused (case twins, empty, reserved): one pass in
    C over the page's names, so a clean page skips the per-record name checks."""
    names: set[str] = set()
    for record in records:
        if isinstance(record, dict):
            names.update(record)
    return (len({folded(n) for n in names}) != len(names)
            or any(not n.strip() or n.lower().startswith(RESERVED) for n in names))


def json_kind(value: Any) -> str:
    kinds = {list: "an array", dict: "an object", str: "a string", bool: "a boolean"}
    return "null" if value is None else kinds.get(type(value), "a number")


def bad_text(value: Any, path: str = "") -> str | None:
    """The path of the first string (or field name) that cannot be written as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "a value"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            if bad_text(k) is not None:
                return f"a field name in {path or 'the record'}"
            found = bad_text(v, here)
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = bad_text(v, f"{path}[{i}]")
            if found:
                return found
    return None


def printable(value: Any) -> Any:
    """A copy that can be stored as JSON text: unencodable characters become U+FFFD."""
    if isinstance(value, str):
        if not _bad(value):
            return value
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    return value


def _bad(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
