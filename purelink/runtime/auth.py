"""Credentials inside a pipeline: read by name, never written anywhere.

A secret is looked up in the environment variable of that name, then in the JSON file named by
`PURELINK_SECRETS_FILE` (how runners hand secrets to a container without putting them in its
environment), then through the plug-ins registered under the entry-point group
`purelink.credentials`. The runtime imports nothing else of purelink (it runs alone inside
containers), so purelink's vault reaches a module started by hand (`python pipelines/NAME.py`)
only through that group, which purelink's pyproject registers. Values read here are remembered
so the event stream can mask them.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from urllib.parse import quote

from purelink.runtime.errors import RuntimeFailure

PLUGIN_GROUP = "purelink.credentials"

_known: set[str] = set()
# What a plug-in may want to know to resolve a name as `purelink recipes run` would (the pipeline
# names its recipe, whose source names the variable such as STRIPE_API_KEY); set by `invocation()`.
_context: dict[str, str] = {}


def set_context(**context: str | None) -> None:
    _context.update({k: str(v) for k, v in context.items() if v is not None})


_given: dict[str, str] = {}  # handed over by the runner through a pipe (never a file on disk)


def provide(secrets: dict[str, str]) -> None:
    """Secrets the runner handed over on this process's stdin (see `purelink.runtime.entry`)."""
    _given.update(secrets)
    _known.update(v for v in secrets.values() if v)
    _known.update(p for v in secrets.values() if v for p in secret_parts(v))


def secret_parts(value: str) -> list[str]:
    """The pieces of a compound secret that may show up alone: the key fields of a JSON key file
    (a service account's private key and its id) and both halves of an S3 `ACCESS_KEY_ID:SECRET`
    pair. An error message quoting only the private key must be masked as surely as the whole."""
    parts: list[str] = []
    if value.startswith("{"):
        try:
            fields = json.loads(value)
        except ValueError:
            fields = None
        if isinstance(fields, dict):
            parts += [v for k, v in fields.items() if isinstance(v, str) and len(v) >= 8
                      and any(word in k.lower() for word in ("private_key", "secret", "password"))]
            # each line of a PEM block (a log may wrap or quote one line of it)
            parts += [line for v in list(parts) for line in v.splitlines() if len(line) >= 16
                      and not line.startswith("-----")]
    else:
        key_id, colon, secret = value.partition(":")
        if colon and len(key_id) >= 12 and len(secret) >= 12 and not any(c.isspace() for c in value):
            parts += [key_id, secret]
    return parts


def read_secret(name: str) -> str:
    value = os.environ.get(name) or _given.get(name)
    if not value:
        path = os.environ.get("PURELINK_SECRETS_FILE")
        if path and os.path.exists(path):
            with open(path) as fh:
                value = json.load(fh).get(name)
    if not value:
        value = _from_plugins(name)
    if not value:
        raise RuntimeFailure(
            f"No credential named {name} was given to this pipeline.",
            f"Set the environment variable {name}, or store it with `purelink secrets set {name}`.",
        )
    _known.add(value)
    _known.update(secret_parts(value))
    return value


def optional_secret(name: str) -> str | None:
    """`read_secret`, or None when nothing gives this one (a PostgreSQL server may need no password)."""
    try:
        return read_secret(name)
    except RuntimeFailure:
        return None


def _from_plugins(name: str) -> str | None:
    """The first value a `purelink.credentials` plug-in gives: `lookup(name, **context) -> str | None`.
    A plug-in's own error with guidance (say, which variable to set) is the one shown when none
    has the value; a plug-in that cannot load here (a container without the vault's packages) is
    skipped."""
    from importlib.metadata import entry_points

    advice: Exception | None = None
    seen = set()
    for ep in entry_points(group=PLUGIN_GROUP):
        if ep.value in seen:  # an editable install next to a built one lists it twice
            continue
        seen.add(ep.value)
        try:
            value = ep.load()(name, **_context)
        except Exception as exc:  # noqa: BLE001 - a plug-in never turns a missing key into a traceback
            if getattr(exc, "guidance", None):
                advice = advice or exc
            continue
        if value:
            return str(value)
    if advice is not None:
        raise RuntimeFailure(getattr(advice, "message", str(advice)), getattr(advice, "guidance", ""))
    return None


def mask(text: str) -> str:
    """Replace every secret this process has read (and its common encodings) by stars."""
    for value in _known:
        for form in (value, quote(value, safe=""), base64.b64encode(f"{value}:".encode()).decode()):
            if form in text:
                text = text.replace(form, "****")
    return text


@dataclass
class BearerAuth:
    """`Authorization: Bearer <secret>` (Stripe, GitHub, HubSpot, Salesforce access tokens)."""

    secret: str
    scheme: str = "Bearer"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"{self.scheme} {read_secret(self.secret)}"}

    def params(self) -> dict[str, str]:
        return {}


@dataclass
class HeaderAuth:
    """A key in a header of its own (Shopify's `X-Shopify-Access-Token`)."""

    header: str
    secret: str
    prefix: str = ""

    def headers(self) -> dict[str, str]:
        return {self.header: f"{self.prefix}{read_secret(self.secret)}"}

    def params(self) -> dict[str, str]:
        return {}


@dataclass
class BasicAuth:
    """HTTP Basic with the key as user name (Stripe accepts this too) or user and password."""

    username_secret: str
    password_secret: str | None = None

    def headers(self) -> dict[str, str]:
        user = read_secret(self.username_secret)
        password = read_secret(self.password_secret) if self.password_secret else ""
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def params(self) -> dict[str, str]:
        return {}


@dataclass
class QueryAuth:
    """A key in a query parameter (`?api_key=...`); prefer headers where the API allows."""

    param: str
    secret: str

    def headers(self) -> dict[str, str]:
        return {}

    def params(self) -> dict[str, str]:
        return {self.param: read_secret(self.secret)}


def secret_names(auth: object) -> tuple[str, ...]:
    """The secret names an auth reads its key from, for messages that say which one to fix."""
    names = (getattr(auth, attr, None) for attr in ("secret", "username_secret", "password_secret"))
    return tuple(n for n in names if isinstance(n, str) and n)


class NoAuth:
    def headers(self) -> dict[str, str]:
        return {}

    def params(self) -> dict[str, str]:
        return {}
