"""Addresses as a pipeline sees them. Inside a container, this machine's loopback (where a
sandbox, a local API or a test database listens) is the host gateway, named by the runner in
`PURELINK_LOOPBACK_HOST`. The one rule for "is this URL loopback, and how is it rewritten" lives
here, in the runtime, so the engine's runner and the pipeline in its container agree."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit, urlunsplit

from purelink.runtime.errors import RuntimeFailure

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


_WRITTEN: dict[str, str] = {}  # host[:port] as this process reaches it -> as the recipe wrote it
_WRITTEN_HOSTS: dict[str, str] = {}  # the same for the host name alone


def reachable(url: str) -> str:
    """`url` as this process can reach it (rewritten only inside a container). The rewrite is
    remembered, so what the run tells the user names the address the recipe gave (`as_written`)."""
    rewritten = loopback_to(url, os.environ.get("PURELINK_LOOPBACK_HOST"))
    if rewritten != url:
        _WRITTEN[_host_port(rewritten)] = _host_port(url)
        _WRITTEN_HOSTS[urlsplit(rewritten).hostname or ""] = _host(url)
    return rewritten


def as_written(text: str) -> str:
    """`text` with every address `reachable` rewrote given back as the recipe wrote it: a user whose
    recipe says 127.0.0.1:8000 reads that in an error, not the container's host.docker.internal:8000."""
    for seen, written in _WRITTEN.items():
        if seen in text:
            text = text.replace(seen, written)
    for seen, written in _WRITTEN_HOSTS.items():  # a driver may name the host alone ("host X, port 5432")
        if seen and seen in text:
            text = text.replace(seen, written)
    return text


def _host_port(url: str) -> str:
    return urlsplit(url).netloc.rsplit("@", 1)[-1]


def _host(url: str) -> str:
    """The host as written in `url` (an IPv6 address keeps its brackets)."""
    netloc = _host_port(url)
    return netloc.rsplit(":", 1)[0] if urlsplit(url).port is not None else netloc


class ForeignHost(RuntimeFailure):
    """A link to another host than the API's (a next page elsewhere): not followed with the key."""

    kind = "api_error"
    url: str | None = None


def foreign_host(url: str, base_url: str) -> ForeignHost:
    there = urlsplit(url)
    error = ForeignHost(
        f"The API's link to the next page points to another host ({there.scheme}://{there.netloc}) than the "
        f"API's own ({base_url}); it was not followed, since every request carries the key.",
        "If that host is the API's too (a paging or regional host), make it the connector's base_url; "
        "otherwise the API sent a wrong link: tell its owner.")
    error.url = url
    return error
