"""Big block-style YAML documents read by indexing rather than parsed whole.

    doc = index_yaml(text)          # None when the layout is not plain block style: parse it whole

PyYAML, even with libyaml's C parser, spends most of a 10 MB document's 20 s creating Python
objects for parts the importer never reads (POST/PUT/DELETE operations, schemas no GET response
names). In block style a mapping's keys are the lines at one indentation, so the text is cut at
the top-level keys, then at the path keys and at each path's `get` and `parameters`, and at each
component; only those slices are parsed, components on first access (a `$ref` followed). What
comes back is what `yaml.load` gives for every part the importer reads, except that path items
without a GET operation are left out and hold only `get` and `parameters`.

Anything that is not plain block style (flow-style top level, anchors and aliases, tags, complex
keys, several documents) returns None, and the caller parses the whole text.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# anchors, aliases, merge keys, tags and complex keys: their meaning crosses the slices
# (each branch starts with a literal character, so the scan of 10 MB takes a fraction of a second)
NOT_PLAIN = re.compile(r"(?m):[ \t]+[&*!][\w.!-]+(?:[ \t]|$)|-[ \t]+[&*!][\w.!-]+(?:[ \t]|$)|<<[ \t]*:|\n[ \t]*\?[ \t]")
KEY = r"('(?:[^'\n]|'')*'|\"(?:[^\"\\\n]|\\.)*\"|[^\s#'\"\-?{\[][^\n]*?)[ \t]*:(?:[ \t]|$)"
TOP_LINE = re.compile(r"(?m)^(?!---|\.\.\.|- |-$)(?=[^ \t#\r\n])")  # "- " at column 0: an item of the key above
OPERATION_KEYS = ("get", "parameters")
FIRST_CHILD = re.compile(r"(?m)^( *)(?=[^ \n#])")


class _Raw:
    """A slice of the text not parsed yet."""

    __slots__ = ("end", "start")

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end


class LazyMap(dict):
    """A mapping whose values are slices of the text, parsed (once) when first read."""

    def __init__(self, text: str, entries: list[tuple[str, int, int]], nested: int = 0) -> None:
        super().__init__((key, _Raw(start, end)) for key, start, end in entries)
        self._text, self._nested = text, nested

    def _value(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        if isinstance(value, _Raw):
            if self._nested:  # `components`: each entry is itself a map of named components
                value = LazyMap(self._text, children(self._text, value.start, value.end), self._nested - 1)
            else:
                value = parse_entry(self._text, value.start, value.end)
            dict.__setitem__(self, key, value)
        return value

    def __getitem__(self, key: str) -> Any:
        return self._value(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self._value(key) if dict.__contains__(self, key) else default

    def items(self):  # type: ignore[override]
        return [(k, self._value(k)) for k in dict.keys(self)]

    def values(self):  # type: ignore[override]
        return [self._value(k) for k in dict.keys(self)]


def key_of(text: str) -> str:
    text = text.strip()
    return str(yaml.load(text, Loader=LOADER)) if text[:1] in "'\"" else text


def children(text: str, start: int, end: int) -> list[tuple[str, int, int]]:
    """The keys of the block mapping that is the value of the key line at `start`, with the span
    of each entry (its key line to the next key at its indentation)."""
    newline = text.find("\n", start, end)
    body = newline + 1 if newline >= 0 else end
    first = FIRST_CHILD.search(text, body, end)
    if first is None:
        return []
    indent = len(first.group(1))
    if indent <= len(text[start:body]) - len(text[start:body].lstrip(" ")):  # a flow value (`{}`): no block
        return []
    pattern = re.compile(rf"(?m)^ {{{indent}}}{KEY}")
    marks = [(m.start(), key_of(m.group(1))) for m in pattern.finditer(text, body, end)]
    return [(key, pos, marks[i + 1][0] if i + 1 < len(marks) else end) for i, (pos, key) in enumerate(marks)]


def parse_entry(text: str, start: int, end: int) -> Any:
    """The value of the one-key mapping written at text[start:end]."""
    parsed = yaml.load(text[start:end], Loader=LOADER)
    if not isinstance(parsed, dict) or len(parsed) != 1:
        raise ValueError("not a one-key mapping")
    return next(iter(parsed.values()))


def index_yaml(text: str) -> dict | None:
    """The document, with `paths` holding the GET operations and `components` read lazily; None
    when the text is not plain block-style YAML (the caller parses it whole)."""
    head = text.lstrip()
    if head.startswith(("{", "[", "%")) or NOT_PLAIN.search(text) or text.count("\n---") > 0:
        return None
    top = re.compile(rf"(?m)^{KEY}")
    lines = list(TOP_LINE.finditer(text))
    marks = [(m.start(), key_of(m.group(1))) for m in top.finditer(text)]
    if len(marks) != len(lines):  # a column-0 line that is not a key: a layout this does not follow
        return None
    doc: dict = {}
    for i, (start, key) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        if key == "paths":
            doc[key] = get_operations(text, start, end)
        elif key == "components":
            doc[key] = LazyMap(text, children(text, start, end), nested=1)
        elif key.startswith("x-") or key == "webhooks":
            continue  # never read by the importer
        else:
            doc[key] = parse_entry(text, start, end)
    return doc


def get_operations(text: str, start: int, end: int) -> dict:
    paths: dict = {}
    for path, p_start, p_end in children(text, start, end):
        parts = {k: (s, e) for k, s, e in children(text, p_start, p_end)}
        if "$ref" in parts:  # a path item kept elsewhere: read as written
            paths[path] = parse_entry(text, p_start, p_end)
        elif "get" in parts:
            paths[path] = {k: parse_entry(text, *parts[k]) for k in OPERATION_KEYS if k in parts}
    return paths
