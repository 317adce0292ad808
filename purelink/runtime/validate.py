"""Record validations. A record that fails one goes to `_purelink.dead_letters` with the reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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
            ok = isinstance(value, str) and EMAIL.match(value)
            return None if ok else f"{self.field} is not an email address: {str(value)[:80]!r}"
        expected = TYPES[self.type]
        ok = isinstance(value, expected) and not (self.type in ("integer", "number") and isinstance(value, bool))
        return None if ok else f"{self.field} should be {self.type}, got {type(value).__name__}"


def first_failure(record: dict, validations: tuple[Validation, ...] | list[Validation]) -> str | None:
    for validation in validations:
        reason = validation.failure(record)
        if reason:
            return reason
    return None
