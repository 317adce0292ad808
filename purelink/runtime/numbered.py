"""When a numbered list (page numbers or offsets) goes on: the API's signals read as numbers and
weighed against each other and the page's records."""

from __future__ import annotations

from typing import Any


def number(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def more_pages(signals: dict[str, bool], records: list, size: int | None, warn) -> bool:
    """Whether a numbered list goes on, from the signals the API gave.

    A short page is not an end: APIs filter pages server-side (GitHub does). The list ends when the
    API says so (a total reached, no next link, has_more false) or, with no signal, on an empty page;
    when signals disagree it goes on while any says more, and the user is told which disagreed.
    """
    if warn is not None and len(set(signals.values())) > 1:
        said = ", ".join(f"{name} says {'more' if more else 'done'}" for name, more in signals.items())
        warn("signals", f"the API's paging signals disagree ({said}): reading on while any says more")
    if not records:
        if warn is not None and any(signals.values()):
            warn("empty", "an empty page arrived while the API said more would come: stopping there")
        return False
    if signals:
        more = any(signals.values())
        if more and warn is not None and size and len(records) < size:
            warn("short", f"a page held {len(records)} of {size} records while the API says more "
                          f"would come: reading on")
        return more
    return True
