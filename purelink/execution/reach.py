"""Is every service a run names reachable? Asked from this machine before a container starts, so
that a missing sandbox or a mistyped host fails in seconds with the URL and the fix, instead of
after a storm of retries inside the container.

    >>> endpoints = check_urls(["http://127.0.0.1:8111/v1"])   # SourceError if nothing listens
    >>> endpoints[0].target
    ('127.0.0.1', 8111)
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from purelink.errors import PurelinkError, SourceError
from purelink.runtime.net import is_loopback

DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "postgres": 5432}
CHECK_BUDGET_S = 3.5  # all URLs are checked at once; the answer comes well inside 5 s


@dataclass(frozen=True)
class Endpoint:
    """A service a run connects to: `target` is the address that answered (for loopback, where
    a relay forwards to)."""

    url: str  # as shown to the user: without a password
    host: str
    port: int
    loopback: bool
    target: tuple[str, int] | None = None


def endpoint(url: str) -> Endpoint | None:
    """The host and port a URL names, or None when it names no network service (a file, a
    template not filled in)."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.split("+")[0].lower())
    except ValueError:
        return None
    host = parts.hostname
    if not host or not port or "{" in host:
        return None
    return Endpoint(url=shown(url), host=host, port=port, loopback=is_loopback(host))


def shown(url: str) -> str:
    """The URL without a password, fit for a message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def check_urls(urls: list[str], *, recipe: str = "", budget_s: float = CHECK_BUDGET_S) -> list[Endpoint]:
    """The endpoints of `urls`, each checked from this machine: a loopback one must have a listener
    (on 127.0.0.1, or ::1 for localhost and ::1), any other must resolve and accept a TCP
    connection. Raises SourceError naming the first URL that fails and what to do (the commands
    name `recipe`, the recipe whose run connects there, when it is given)."""
    wanted = list(dict.fromkeys(e for e in map(endpoint, urls) if e is not None))
    results: dict[int, Endpoint | SourceError] = {}
    threads = []
    for index, item in enumerate(wanted):
        # A thread each: a DNS lookup cannot be given a timeout, but it can be left behind.
        thread = threading.Thread(target=_check_into, args=(results, index, item, recipe, budget_s), daemon=True)
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + budget_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    checked = []
    for index, item in enumerate(wanted):
        outcome = results.get(index)
        if outcome is None:
            outcome = SourceError(f"{item.host} (in {item.url}) did not answer within {budget_s:g} s.",
                                  _far_guidance(item))
        if isinstance(outcome, SourceError):
            raise outcome
        checked.append(outcome)
    return checked


def _check_into(results: dict, index: int, item: Endpoint, recipe: str, budget_s: float) -> None:
    try:
        results[index] = _check(item, recipe, budget_s)
    except SourceError as exc:
        results[index] = exc


def _check(item: Endpoint, recipe: str, budget_s: float) -> Endpoint:
    if item.loopback:
        addresses = ["::1"] if item.host == "::1" else ["127.0.0.1", "::1"]
        for address in addresses:
            if _connects(address, item.port, timeout_s=1.0):
                return Endpoint(item.url, item.host, item.port, True, (address, item.port))
        raise SourceError(f"Nothing listens on {item.host}:{item.port}, which {item.url} names, so the run "
                          "cannot reach it.", _loopback_guidance(item, recipe))
    try:
        infos = socket.getaddrinfo(item.host, item.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SourceError(f"The host {item.host} (in {item.url}) cannot be resolved from this machine: "
                          f"{exc.strerror}.",
                          "Check the URL for typos and that this machine's DNS and network reach it; "
                          f"fix the recipe's URL with `{_update(recipe)} --base-url URL`.") from None
    per_try = max(0.5, budget_s - 0.5)
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(per_try)
            try:
                sock.connect(address)
                return Endpoint(item.url, item.host, item.port, False, (address[0], item.port))
            except OSError:
                continue
    raise SourceError(f"{item.host}:{item.port} (in {item.url}) refuses or drops connections from this machine.",
                      _far_guidance(item))


def _connects(address: str, port: int, *, timeout_s: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _update(recipe: str) -> str:
    return f"purelink recipes new {recipe or 'NAME'} --update"


def _loopback_guidance(item: Endpoint, recipe: str) -> str:
    update = _update(recipe)
    if item.url.startswith(("postgres://", "postgresql://")):
        return (f"Start the PostgreSQL server on port {item.port} of this machine, or point the recipe at "
                f"where it runs: for the database it reads, `{update} --base-url URL`; "
                f"for the warehouse it loads into, `{update} --destination URL`.")
    if item.port < 1024:  # only root may listen there: the sandbox would fail to start
        return (f"Start the service first (port {item.port} is below 1024: only root may listen on it), or point "
                f"the recipe at where the API runs (`{update} --base-url URL`), such as "
                "a `purelink sandbox` on its default port.")
    return (f"Start the service first; for the sandbox: `purelink sandbox --port {item.port}`. Or point the "
            f"recipe at where the API runs (`{update} --base-url URL`).")


def _far_guidance(item: Endpoint) -> str:
    return (f"Check that the service at {item.host}:{item.port} is up and that this machine may reach it "
            "(firewall, VPN, proxy); fix the recipe's URL if it is wrong.")


def recipe_urls(recipe, spec, *, sample: bool = False) -> list[str]:
    """The URLs a run of `recipe` connects to: its source, and a warehouse it loads into (a sample
    run writes to a scratch DuckDB file instead)."""
    url = recipe.source.base_url or spec.base_url
    if url and "{" in url:
        try:
            url = spec.resolved(recipe.source.variables, base_url=recipe.source.base_url).base_url
        except PurelinkError:  # a setting left unfilled is reported by codegen, not here
            url = None
    urls = [url] if url else []
    if recipe.destination.kind == "postgres" and recipe.destination.url and not sample:
        urls.append(recipe.destination.url)
    return urls
