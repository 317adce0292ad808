"""Addresses as a pipeline sees them. Inside a container, this machine's loopback (where a
sandbox, a local API or a test database listens) is the host gateway, named by the runner in
`PURELINK_LOOPBACK_HOST`. The one rule for "is this URL loopback, and how is it rewritten" lives
here, in the runtime, so the engine's runner and the pipeline in its container agree."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit, urlunsplit

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(name: str) -> bool:
    """Whether a host name or address means "this machine" (0.0.0.0 included: a client given it
    connects to itself)."""
    if name.lower() in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def loopback_to(url: str, host: str | None) -> str:
    """`url` with a loopback host (localhost, 127.0.0.0/8, ::1, 0.0.0.0) replaced by `host`; scheme,
    user, port, path and query kept; any other URL, or no `host`, leaves it unchanged.

    >>> loopback_to("postgresql://etl@localhost:5432/shop", "host.docker.internal")
    'postgresql://etl@host.docker.internal:5432/shop'
    """
    if not host:
        return url
    parts = urlsplit(url)
    name = parts.hostname
    if not name or not is_loopback(name):
        return url
    try:
        port = parts.port
    except ValueError:  # not a port number: not a URL this rule understands
        return url
    netloc = host if port is None else f"{host}:{port}"
    if "@" in parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urlunsplit(parts._replace(netloc=netloc))


def reachable(url: str) -> str:
    """`url` as this process can reach it (rewritten only inside a container)."""
    return loopback_to(url, os.environ.get("PURELINK_LOOPBACK_HOST"))
