"""A local API speaking Stripe's list protocol, with deterministic data and optional faults.

    from purelink.sandbox import serve

    with serve(seed=0, rate_limit=50) as sandbox:
        sandbox.stripe_base_url   # "http://127.0.0.1:PORT/v1"
        sandbox.api_key           # a secret key it accepts
        sandbox.stats()           # requests served, 429s, 500s, per path

Data (seed 0 by default): 3,421 customers, 2x as many charges, 0.4x subscriptions, 1.2x
invoices, created 2024-01-01..2026-01-01 UTC. Keys: `sk_test_sandbox_4Vq8ZbN2mK7xR3tLw9HcP5dJ`
(full access) and `rk_test_sandbox_7Hn3QeX9sW2vB6kTz4MfR8yC` (reads customers only), plus any
given as `api_keys` / `restricted_keys`. `purelink sandbox` runs the same from the command line. The server itself is imported only when
used, so importing this package (as `purelink --help` does) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from purelink.sandbox.server import Sandbox, SandboxError, serve

__all__ = ["Sandbox", "SandboxError", "serve"]


def __getattr__(name: str):
    if name in __all__:
        from purelink.sandbox import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
