"""Ranking catalog entries for the source combobox: prefix first, then typos, then description words.

    >>> [s.title for s in rank("S")]
    ['Salesforce', 'Shopify', 'Stripe', 'HubSpot', 'PostgreSQL']
    >>> rank("strp")[0].title, rank("strp")[0].why
    ('Stripe', 'fuzzy')
    >>> [s.title for s in rank("crm")]
    ['HubSpot', 'Salesforce']

It runs on every keystroke, so everything that does not depend on the query (lower-cased titles,
description words) is computed once per catalog; a call is a few short string comparisons per
source. Typos are measured with the optimal-string-alignment Damerau-Levenshtein distance (a
swap of two neighbours costs one), against the whole title and against its prefix of about the
query's length, so "hubspt" finds HubSpot and "shopfy" finds Shopify.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from purelink.catalog.spec import ConnectorSpec, catalog

WORD = re.compile(r"[a-z0-9]+")
# Words of a title as people see them: "HubSpot" is Hub + Spot, "PostgreSQL" Postgre + SQL.
TITLE_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
TIERS = {"prefix": 3.0, "fuzzy": 2.0, "description": 1.0}


@dataclass(frozen=True)
class Suggestion:
    """One combobox entry: `label` is what the user sees, `why` how it matched (prefix, fuzzy, description)."""

    name: str
    title: str
    description: str
    category: str
    label: str
    score: float
    why: str


@dataclass(frozen=True)
class _Entry:
    name: str
    title: str
    description: str
    category: str
    keys: tuple[str, ...]  # title and name, lower-cased, for prefix and typo matching
    title_words: tuple[str, ...]  # words of the title, camel case split: "spot" and "sql" are words too
    words: frozenset[str]  # words of the description, category and title, with simple stems


def _stems(word: str) -> set[str]:
    out = {word}
    for suffix in ("ies", "es", "s", "ing", "ment", "ments"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            out.add(word[: -len(suffix)] + ("y" if suffix == "ies" else ""))
    return out


def _words(text: str) -> set[str]:
    found = WORD.findall(text.lower())
    joined = {"".join(found[i:i + 2]) for i in range(len(found) - 1)}  # e-commerce -> ecommerce
    return {stem for w in [*found, *joined] for stem in _stems(w)}


@lru_cache(maxsize=1024)
def _entry(name: str, title: str, description: str, category: str, kind: str) -> _Entry:
    """Everything about one source that does not depend on the query (cached by content, so a
    caller passing its own list of specs on every keystroke pays for it once)."""
    low = title.lower()
    keys = tuple(dict.fromkeys((low, name.lower(), low.replace(" ", ""))))
    text = f"{description} {category} {title} {name}" + (" database sql" if kind == "database" else "")
    return _Entry(name, title, description, category, keys, tuple(w.lower() for w in TITLE_WORD.findall(title)), frozenset(_words(text)))


def _index(specs: Iterable[ConnectorSpec] | None) -> list[_Entry]:
    chosen = catalog().values() if specs is None else specs
    return [_entry(s.name, s.title, s.description, s.category, s.kind) for s in chosen]


def distance(a: str, b: str, limit: int = 3) -> int:
    """Optimal-string-alignment Damerau-Levenshtein distance, or `limit + 1` once it surely exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _allowed(query: str) -> int:
    """Typos tolerated for a query of this length: none below 4 letters ("sql" is not "sal"), 1 up to 5, then 2."""
    return 0 if len(query) < 4 else 1 if len(query) <= 5 else 2


def _fuzzy(query: str, entry: _Entry) -> int | None:
    allowed = _allowed(query)
    if not allowed:
        return None
    best = allowed + 1
    for key in entry.keys:
        for candidate in {key, *(key[:n] for n in range(len(query) - 1, len(query) + 2) if 0 < n < len(key))}:
            best = min(best, distance(query, candidate, allowed))
    return best if best <= allowed else None


def _described(tokens: list[str], entry: _Entry, typos: bool = False) -> float | None:
    """Share of the query's words found among the entry's words: whole, stem or prefix of 3+
    letters; with `typos`, also a word within one edit (only tried when nothing else matched)."""
    hits = 0.0
    for token in tokens:
        if _stems(token) & entry.words or (len(token) >= 3 and any(w.startswith(token) for w in entry.words)):
            hits += 1
        elif typos and len(token) >= 5 and any(distance(token, w, 1) <= 1 for w in entry.words):
            hits += 0.5
    return hits / len(tokens) if hits else None


def rank(query: str, specs: Iterable[ConnectorSpec] | None = None, limit: int = 10) -> list[Suggestion]:
    """Catalog entries matching `query`, best first; an empty query lists them all alphabetically.

    Prefix matches of the title or name come first, then titles within a typo or two, then
    entries whose description or category holds the query's words ("payments", "crm").
    """
    entries = _index(specs)
    q = " ".join(query.lower().split())
    scored: list[tuple[float, str, _Entry, str]] = []
    for e in entries:
        title = e.title.lower()
        if not q or any(k.startswith(q) for k in e.keys) or any(w.startswith(q) for w in e.title_words[1:]):
            # a whole-title prefix beats a later title word; shorter titles first on ties
            bonus = 0.5 if not q or any(k.startswith(q) for k in e.keys) else 0.0
            scored.append((TIERS["prefix"] + bonus, title, e, "prefix"))
            continue
        typos = _fuzzy(q.replace(" ", ""), e)
        if typos is not None:
            scored.append((TIERS["fuzzy"] + 0.5 - typos * 0.2, title, e, "fuzzy"))
            continue
        share = _described(WORD.findall(q), e)
        if share:
            scored.append((TIERS["description"] + 0.5 * share, title, e, "description"))
    if q and not scored:  # last resort: a typo in a description word ("paymnets")
        for e in entries:
            share = _described(WORD.findall(q), e, typos=True)
            if share:
                scored.append((TIERS["description"] + 0.5 * share, e.title.lower(), e, "description"))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [Suggestion(name=e.name, title=e.title, description=e.description, category=e.category,
                       label=f"{e.title} ({e.description})", score=round(score, 3), why=why)
            for score, _, e, why in scored[:max(0, limit)]]
