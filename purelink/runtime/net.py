"""Addresses as a pipeline sees them. Inside a container, this machine's loopback (where a
sandbox, a local API or a test database listens) is the host gateway, named by the runner in
`PURELINK_LOOPBACK_HOST`."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit, urlunsplit


def loopback_to(url: str, host: str | None) -> str:
    """`url` with a loopback host replaced by `host`: inside a container, the machine's own
    loopback (where a sandbox or a local API listens) is reached as host.docker.internal."""
    if not host:
        return url
    parts = urlsplit(url)
    name = parts.hostname or ""
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback or name == "0.0.0.0"
    except ValueError:
        loopback = False
    if not loopback:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    hostport = netloc[-1].replace(f"[{name}]", host) if name == "::1" else netloc[-1].replace(name, host, 1)
    netloc = "@".join([*netloc[:-1], hostport])
    return urlunsplit(parts._replace(netloc=netloc))


def reachable(url: str) -> str:
    """`url` as this process can reach it (rewritten only inside a container)."""
    return loopback_to(url, os.environ.get("PURELINK_LOOPBACK_HOST"))
