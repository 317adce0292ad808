"""Free text to wizard answers with rules: sources and streams by name, dates, frequencies.

    parse("stripe customers since January, daily", sources, today=date(2025, 3, 4))
    # IntentDraft(source="stripe", streams=["customers"], frequency="daily", history_start="2025-01-01")

Sources are found by their catalog name or title (then within a typo of one, for words of five
letters or more); streams by their names (singular or plural); dates after since/from/starting,
or as "last 30 days"; what is left of an unknown source's words is kept as its name.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from itertools import pairwise

from purelink.assistant.models import IntentDraft
from purelink.catalog.ranking import distance
from purelink.catalog.spec import ConnectorSpec

MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
SINCE = r"(?:since|from|starting(?: from| on| in)?|after|beginning(?: of)?)"
UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7}
FREQUENCY = [
    ("hourly", re.compile(r"\b(hourly|every hour|each hour|once an hour|per hour)\b")),
    ("daily", re.compile(r"\b(daily|every day|each day|nightly|once a day|per day|every night)\b")),
    ("once", re.compile(r"\b(once|one[- ]off|one[- ]time|just once|a single run)\b")),
]
DESTINATION = [("postgres", re.compile(r"\b(postgres(?:ql)?|warehouse|pg)\b")),
               ("duckdb", re.compile(r"\b(duck ?db)\b"))]
PURPOSE = [("production", re.compile(r"\b(production|prod)\b")),
           ("poc", re.compile(r"\b(poc|prototype|proof of concept|trial|try it out)\b"))]
EVERYTHING = re.compile(r"\b(all (?:the )?history|everything|all time|full history|from the beginning)\b")
STOP = {"load", "get", "sync", "pull", "copy", "fetch", "my", "the", "from", "into", "to", "all", "and", "every",
        "data", "i", "want", "please", "of", "in", "with", "for", "a", "an", "me", "our", "records", "table",
        "tables", "then", "also", "plus", "on", "at", "each", "only", "just", "new", "run", "it", "them"}


def month_start(year: int, month: int) -> date:
    return date(year, month, 1)


def minus_months(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def parse_history(text: str, today: date) -> tuple[str | None, str | None]:
    """(ISO date or None, the phrase it came from) for the history start said in `text`."""
    t = text.lower()
    iso = re.search(rf"\b{SINCE}\s+(\d{{4}})[-/](\d{{1,2}})[-/](\d{{1,2}})\b", t)
    if iso:
        return date(*map(int, iso.groups())).isoformat(), iso.group(0)
    named = re.search(rf"\b{SINCE}\s+(?:the\s+)?(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+)?({MONTH})\.?"
                      rf"(?:\s+(\d{{1,2}})(?:st|nd|rd|th)?)?(?:,?\s+(\d{{4}}))?\b", t)
    if named:
        day_before, month_name, day_after, year = named.groups()
        month = MONTHS[month_name]
        if year:
            y = int(year)
        else:  # the most recent such month: "since December" in March is last December
            y = today.year if month <= today.month else today.year - 1
        return date(y, month, int(day_before or day_after or 1)).isoformat(), named.group(0)
    year = re.search(rf"\b{SINCE}\s+(\d{{4}})\b", t)
    if year:
        return date(int(year.group(1)), 1, 1).isoformat(), year.group(0)
    last = re.search(r"\b(?:last|past|previous)\s+(\d+)\s+(days?|weeks?|months?|years?)\b", t)
    if last:
        n, unit = int(last.group(1)), last.group(2)
        if unit.startswith("month"):
            start = minus_months(today, n)
        elif unit.startswith("year"):
            start = minus_months(today, 12 * n)
        else:
            start = today - timedelta(days=n * UNITS[unit])
        return start.isoformat(), last.group(0)
    relative = re.search(rf"\b(?:{SINCE}\s+)?(last year|this year|last month|this month|yesterday|today)\b", t)
    if relative and (relative.group(0) != relative.group(1) or relative.group(1) in ("this year", "this month")):
        starts = {"last year": date(today.year - 1, 1, 1), "this year": date(today.year, 1, 1),
                  "last month": minus_months(today.replace(day=1), 1), "this month": today.replace(day=1),
                  "yesterday": today - timedelta(days=1), "today": today}
        return starts[relative.group(1)].isoformat(), relative.group(0)
    return None, None


def _first(rules, text: str) -> tuple[str | None, str | None]:
    for value, pattern in rules:
        found = pattern.search(text)
        if found:
            return value, found.group(0)
    return None, None


def find_source(words: list[str], sources: list[ConnectorSpec]) -> ConnectorSpec | None:
    """The source named by up to three consecutive words (its name or title), or within a typo."""
    keys = {}
    for spec in sources:
        for key in {spec.name.lower(), spec.title.lower(), spec.name.lower().replace("_", " ")}:
            keys[tuple(key.split())] = spec
    for size in (3, 2, 1):  # longest name first: "acme tickets" before "acme"
        for i in range(len(words) - size + 1):
            spec = keys.get(tuple(words[i:i + size]))
            if spec:
                return spec
    for word in words:  # a typo: "strpie", "hubspt"
        if len(word) >= 5:
            for key, spec in keys.items():
                if len(key) == 1 and distance(word, key[0], 1) <= 1:
                    return spec
    return None


def stream_matches(word: str, spec: ConnectorSpec) -> str | None:
    for s in spec.streams:
        name = s.name.lower()
        forms = {name, name.replace("_", ""), name.rstrip("s"), name + "s", name.replace("_", " ")}
        if word in forms or (len(word) >= 6 and distance(word, name, 1) <= 1):
            return s.name
    return None


def parse(text: str, sources: list[ConnectorSpec], *, today: date) -> IntentDraft:
    low = text.lower()
    notes: list[str] = []
    history, phrase_h = parse_history(low, today)
    frequency, phrase_f = _first(FREQUENCY, low)
    if frequency == "once" and phrase_f and re.search(r"once an? (hour|day)", low):
        frequency = None
    destination, phrase_d = _first(DESTINATION, low)
    purpose, phrase_p = _first(PURPOSE, low)
    everything = EVERYTHING.search(low)
    if everything:
        notes.append("load the whole history (no start date)")
    rest = low
    for phrase in (phrase_h, phrase_f, phrase_d, phrase_p, everything and everything.group(0)):
        if phrase:
            rest = rest.replace(phrase, " ")
    words = re.findall(r"[a-z0-9_]+", rest)
    spec = find_source(words, sources)
    streams: list[str] = []
    if spec is not None:
        pairs = [f"{a}_{b}" for a, b in pairwise(words)]  # "pull requests"
        for word in [*pairs, *words]:
            found = stream_matches(word, spec)
            if found and found not in streams:
                streams.append(found)
        source = spec.name
    else:
        leftover = [w for w in words if w not in STOP and not w.isdigit()]
        source = " ".join(leftover).title() if leftover else None
        if source:
            notes.append(f"{source!r} is not a known source: the assistant can look for its API")
    return IntentDraft(source=source, streams=streams, frequency=frequency, history_start=history,
                       destination=destination, purpose=purpose, notes=notes)
