"""Column groups: the probed columns sorted into Core, Contact, Business and Complex.

    groups = group_columns(probe.columns)      # {"Core": [...], "Contact": [...], ...}
    default_selection(probe.columns)           # Core + Contact + Business paths

Core holds the record's own plain fields (identity, lifecycle, status, references); Contact who
and where (email, name, phone, address.*); Business money and plan fields (amount, currency,
balance, plan, metadata); Complex the remaining objects and arrays, stored whole as JSON.
Contact objects such as `address` are offered by their fields (`address.city`), which become
plain columns; other objects stay whole. Heavy nested lists are flagged "may slow extraction".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from purelink.discovery.probe import Column

GROUPS = ("Core", "Contact", "Business", "Complex")
DEFAULT_GROUPS = ("Core", "Contact", "Business")

CORE = re.compile(r"^(id|uuid|key|object|type|kind|status|state|created|updated|deleted|livemode|mode|"
                  r"(\w+_)?(at|date|time|timestamp)|created\w*|updated\w*|modified\w*|\w+_id|[a-z]+Id)$")
MONEY = re.compile(r"(amount|total|price|cost|fee|balance|currency)", re.IGNORECASE)
CONTACT = re.compile(r"(e-?mail|^name$|_name$|^first_?name|^last_?name|full_?name|phone|mobile|fax|"
                     r"address|city|country|postal|zip|street|line[12]|region|province|company|website|"
                     r"locale|language|timezone|shipping|billing_details)", re.IGNORECASE)
BUSINESS = re.compile(r"(amount|currency|balance|price|plan|total|subtotal|tax|discount|fee|revenue|cost|"
                      r"quantity|invoice|payment|paid|refund|credit|metadata|tier|interval|mrr|arr)",
                      re.IGNORECASE)
CONTACT_OBJECTS = re.compile(r"(^|_)(address|shipping|billing_details|contact|customer_address)$",
                             re.IGNORECASE)


def classify(column: Column) -> str:
    """The group of one column, by its name and shape."""
    top = column.path.split(".")[0]
    leaf = column.path.rsplit(".", 1)[-1]
    if column.parent is not None:  # a field inside an object goes with that object's group
        if CONTACT_OBJECTS.search(top):
            return "Contact"
        if top.lower() == "metadata":
            return "Business"
        return "Complex"
    if column.nested:
        if CONTACT_OBJECTS.search(top):
            return "Contact"
        if top.lower() == "metadata" or (BUSINESS.search(top) and not column.type.endswith("]")):
            return "Business"
        return "Complex"
    if CORE.match(leaf):
        return "Core"
    if MONEY.search(leaf):
        return "Business"
    if CONTACT.search(leaf):
        return "Contact"
    if BUSINESS.search(leaf):
        return "Business"
    return "Core"


def group_columns(columns: Iterable[Column]) -> dict[str, list[Column]]:
    """Columns by group, in GROUPS order; sets `column.group`."""
    groups: dict[str, list[Column]] = {g: [] for g in GROUPS}
    for column in columns:
        column.group = classify(column)
        groups[column.group].append(column)
    return groups


def default_selection(columns: Iterable[Column], groups: Iterable[str] = DEFAULT_GROUPS) -> list[str]:
    """The paths chosen by default: the wanted groups, with Contact objects taken field by field
    (`address.city`, not `address` as JSON), other objects whole (`metadata` as JSON), and no
    heavy nested list (those are chosen by name)."""
    columns = list(columns)
    wanted = set(groups)
    chosen = []
    for column in columns:
        group = column.group or classify(column)
        if group not in wanted or column.heavy:
            continue  # heavy nested lists only when asked for by name
        if group == "Contact" and column.nested:
            continue  # offered by its fields
        if group in ("Business", "Complex") and column.parent is not None:
            continue  # kept whole (metadata's keys vary from record to record); fields on request
        chosen.append(column.path)
    return chosen


def select_groups(columns: Iterable[Column], names: Iterable[str]) -> list[str]:
    """`default_selection` for the groups named (case-insensitive), e.g. ["core", "complex"]."""
    wanted = []
    for name in names:
        match = next((g for g in GROUPS if g.lower() == name.strip().lower()), None)
        if match is None:
            raise ValueError(f"unknown column group {name!r}: choose among {', '.join(GROUPS)}")
        wanted.append(match)
    return default_selection(columns, wanted)


def heavy(columns: Iterable[Column]) -> list[Column]:
    """Columns that may slow extraction (nested lists of objects)."""
    return [c for c in columns if c.heavy]
