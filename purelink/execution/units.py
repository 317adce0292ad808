"""Sizes and durations in the words both monitors show."""

from __future__ import annotations

from purelink.runtime.summary import human_bytes

__all__ = ["duration_text", "human_bytes"]


def duration_text(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} seconds"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} minutes {seconds} seconds"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} hours {minutes} minutes"
