"""Checking a key before it is stored or used: its shape against the connector spec, then what a
health-check request made of it (accepted, rejected, not allowed, unreachable), each in words."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from purelink.errors import CredentialError, PurelinkError, SourceError
from purelink.secrets import redact
from purelink.secrets.secret import Secret

__all__ = ["HealthCheck", "check_key_format", "classify_health_check"]


def check_key_format(value: str | Secret, pattern: str | re.Pattern[str] | None, *, source_title: str,
                     key_prefix_hint: str | Sequence[str] | None = None) -> None:
    """Raise `CredentialError` when `value` does not have the shape of a `source_title` key
    (`pattern` from the connector spec, matched whole). The message never echoes the key.

    Example: `check_key_format(key, r"(sk|rk)_(test|live)_\\w+", source_title="Stripe",
    key_prefix_hint=["sk_test_", "sk_live_", "rk_"])` on a publishable key raises "That is not a
    Stripe key: ... Stripe keys start with sk_test_, sk_live_ or rk_. ..."
    """
    plain = value.reveal() if isinstance(value, Secret) else value
    if isinstance(key_prefix_hint, str):
        shape = f" {source_title} keys start with {key_prefix_hint}."
    elif key_prefix_hint:
        hints = list(key_prefix_hint)
        shape = f" {source_title} keys start with " + (
            f"{', '.join(hints[:-1])} or {hints[-1]}." if len(hints) > 1 else f"{hints[0]}.")
    else:
        shape = ""
    if not plain:
        raise CredentialError(f"The {source_title} key is empty.", f"Paste the whole key.{shape}")
    if plain != plain.strip():
        raise CredentialError(f"The {source_title} key has spaces or a line break at its start or end.",
                              "Paste it again without them.")
    if pattern is None:
        return
    if not re.fullmatch(pattern, plain):
        raise CredentialError(
            f"That is not a {source_title} key: the value given ({len(plain)} characters) does not "
            "have the expected shape.",
            f"{shape.strip()} Copy the secret key itself from the {source_title} dashboard "
            "(not a publishable key, an ID or a URL).".strip())


@dataclass(frozen=True)
class HealthCheck:
    """What one health-check request says about a key: `kind` is one of ok, rejected,
    forbidden, unreachable, rate_limited, server_error, not_found, unexpected."""

    kind: str
    message: str
    guidance: str = ""

    @property
    def ok(self) -> bool:
        return self.kind in {"ok", "rate_limited"}  # a 429 still proves the key was accepted

    def error(self) -> PurelinkError | None:
        """The error to raise for this answer: CredentialError for key problems, SourceError for
        the rest, None when the key works."""
        if self.kind == "ok":
            return None
        cls = CredentialError if self.kind in {"rejected", "forbidden"} else SourceError
        return cls(self.message, self.guidance)

    def raise_for_problem(self) -> None:
        """Raise `error()` unless the key is known to work."""
        err = self.error()
        if err is not None and not self.ok:
            raise err


_NETWORK_ERRORS = {"ConnectError", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout",
                   "TimeoutException", "NetworkError", "TransportError", "ProxyError", "RemoteProtocolError",
                   "ConnectionError", "Timeout"}


def _is_dns_failure(exc: BaseException) -> bool:
    import socket

    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        text = str(seen).lower()
        if isinstance(seen, socket.gaierror) or any(
                s in text for s in ("name or service not known", "nodename nor servname", "getaddrinfo failed",
                                    "temporary failure in name resolution", "no address associated")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def classify_health_check(outcome: int | BaseException | Any, *, source_title: str | None = None,
                          host: str | None = None, stream: str | None = None,
                          dashboard_hint: str | None = None) -> HealthCheck:
    """Say what a health-check request's status code (or response, or exception) means.

    401 -> the key was rejected; 403 -> the key lacks permission for `stream`; connection errors,
    timeouts and DNS failures -> `host` unreachable; each with its own guidance.

    >>> classify_health_check(401, source_title="Stripe").message
    'Stripe rejected the key (401 Unauthorized).'
    """
    who = source_title or "the API"
    where = host or (f"the {source_title} API" if source_title else "the API")
    where_ = host or _cap(where)  # at the start of a sentence; a host name keeps its case
    dashboard = dashboard_hint or (f"the {source_title} dashboard" if source_title else "the provider's dashboard")
    if isinstance(outcome, BaseException):
        names = {cls.__name__ for cls in type(outcome).__mro__}
        timeout = "timeout" in " ".join(names).lower() or isinstance(outcome, TimeoutError)
        if _is_dns_failure(outcome):
            return HealthCheck("unreachable", f"{where_} is unreachable: its name could not be resolved (DNS).",
                               "Check the base URL for typos, your network, VPN or proxy settings.")
        if timeout:
            return HealthCheck("unreachable", f"{where_} is unreachable: it did not answer in time.",
                               "Check your network, VPN or proxy, or try again later; the API may be down.")
        if names & _NETWORK_ERRORS or isinstance(outcome, OSError):
            return HealthCheck("unreachable", f"{where_} is unreachable: the connection failed "
                               f"({redact.redact(type(outcome).__name__)}).",
                               "Check the base URL and port, your network, VPN or proxy, and that the "
                               "service is running.")
        return HealthCheck("unexpected", f"The health check against {where} failed: "
                           f"{type(outcome).__name__}: {redact.redact(str(outcome))[:200]}",
                           "Try again; if it keeps failing, report it with this message.")
    status = int(getattr(outcome, "status_code", outcome))
    if 200 <= status < 300:
        return HealthCheck("ok", f"{_cap(who)} accepted the key.")
    if status == 401:
        return HealthCheck("rejected", f"{_cap(who)} rejected the key (401 Unauthorized).",
                           f"The key is wrong, revoked or expired, or it belongs to another account. Copy "
                           f"it again from {dashboard} and save it with `purelink secrets set NAME`.")
    if status == 403:
        what = f"the {stream} stream" if stream else "this request"
        return HealthCheck("forbidden", f"The key lacks permission for {what} (403 Forbidden).",
                           f"It is probably a restricted key: in {dashboard}, give it read access to "
                           f"{stream or 'the streams you selected'}, or use a key that has it.")
    if status == 429:
        return HealthCheck("rate_limited", f"{_cap(who)} accepted the key but is limiting requests (429).",
                           "Wait a minute before running; purelink will respect the rate limit.")
    if status == 404:
        return HealthCheck("not_found", f"The health-check URL was not found on {where} (404).",
                           "Check the base URL: it may point to the wrong service or API version.")
    if status >= 500:
        return HealthCheck("server_error", f"{where_} answered with an error of its own ({status}).",
                           "The key could not be checked; try again later.")
    return HealthCheck("unexpected", f"{where_} answered the health check with status {status}.",
                       "Check the base URL and the key, then try again.")
