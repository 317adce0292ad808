"""Sizes and durations in the words both monitors show."""

from __future__ import annotations

from purelink.runtime.summary import human_bytes

__all__ = ["duration_text", "human_bytes"]


def duration_text(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return _count(seconds, "second")
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{_count(minutes, 'minute')} {_count(seconds, 'second')}"
    hours, minutes = divmod(minutes, 60)
    return f"{_count(hours, 'hour')} {_count(minutes, 'minute')}"


def _count(n: int, unit: str) -> str:
    """"1 second", "2 seconds"."""
    return f"{n} {unit}{'' if n == 1 else 's'}"
