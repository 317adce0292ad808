"""What a GraphQL API says inside a body sent with HTTP 200: errors, and throttling.

GraphQL servers answer failures with `{"errors": [{"message": ..., "extensions": {"code": ...}}]}`
and status 200, so HTTP status alone cannot tell a failed page. Shopify's Admin API throttles
with the code THROTTLED and reports its bucket in `extensions.cost.throttleStatus`.
"""

from __future__ import annotations

from typing import Any


def _errors(body: Any) -> list:
    errors = body.get("errors") if isinstance(body, dict) else None
    return errors if isinstance(errors, list) else [errors] if errors else []


def error_messages(body: Any) -> str:
    """The body's error messages joined ("" when it has none)."""
    return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in _errors(body))


def throttle_wait(body: Any) -> float | None:
    """Seconds to wait when a body says THROTTLED (0: no hint, back off), None when it does not.

    The wait is what the bucket lacks for this query at its restore rate:
    (requestedQueryCost - currentlyAvailable) / restoreRate.
    """
    codes = [(e.get("extensions") or {}).get("code") for e in _errors(body) if isinstance(e, dict)]
    if "THROTTLED" not in codes:
        return None
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        lack = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(0.0, lack / float(status["restoreRate"]))
    except (TypeError, ValueError, KeyError, ZeroDivisionError):
        return 0.0
