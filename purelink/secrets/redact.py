"""Keep secret values out of everything purelink prints, logs or writes.

A process-wide registry holds the secret values in use (`resolve_secret` and `Vault.get` register
theirs); `redact(text)` replaces every registered value, and the forms it takes on the way out
(URL-encoded, JSON-escaped, base64 as in an HTTP Basic header), by a mask.

    >>> register("sk_test_4eC39HqLyjWDarjtT1zdp7dc")
    >>> redact("GET /v1/customers?key=sk_test_4eC39HqLyjWDarjtT1zdp7dc")
    'GET /v1/customers?key=sk_test_****p7dc'

Attach `RedactingFilter` to log handlers (`install()` does it for a logger and its handlers), pass
event lines through `redact`, dictionaries through `redact_data`, exceptions through
`redact_exception` before they are shown, and files through `redact_file`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import tempfile
import threading
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

__all__ = [
    "MIN_LENGTH",
    "RedactingFilter",
    "clear",
    "contains_secret",
    "format_exception",
    "install",
    "mask",
    "redact",
    "redact_bytes",
    "redact_data",
    "redact_exception",
    "redact_file",
    "register",
    "unregister",
]

# Values shorter than this are not registered: replacing "abc" or "admin" in every log line would
# mangle ordinary text while protecting a value that guessing finds anyway.
MIN_LENGTH = 6

STARS = "****"

# Prefixes that say what kind of key a value is without saying anything about the key itself;
# a mask keeps them because "sk_live_****" vs "sk_test_****" is what a person needs to debug.
KNOWN_PREFIXES = (
    "sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_", "whsec_",
    "shpat_", "shpca_", "shppa_", "shpss_", "github_pat_", "ghp_", "gho_", "ghs_",
    "xoxb-", "xoxp-", "sk-proj-", "sk-ant-", "sk-", "AKIA", "AIza", "glpat-",
)

_BASIC = re.compile(r"(?i)\b(basic)(\s+)([A-Za-z0-9+/_-]{4,}={0,2})")

_lock = threading.Lock()
_values: set[str] = set()
_snapshot: frozenset[str] = frozenset()  # what readers iterate, never mutated in place
_pattern: re.Pattern[str] | None = None
_replacement: dict[str, str] = {}


def mask(value: str) -> str:
    """The masked form of a secret: a known prefix and the last 4 characters when the value is
    long enough that they give nothing away, else stars only.

    >>> mask("sk_test_4eC39HqLyjWDarjtT1zdp7dc")
    'sk_test_****p7dc'
    >>> mask("hunter2")
    '****'
    """
    prefix = next((p for p in KNOWN_PREFIXES if value.startswith(p)), "")
    body = value[len(prefix):]
    if len(value) >= 20 and len(body) >= 16:
        return f"{prefix}{STARS}{value[-4:]}"
    return STARS


def _base64_cores(raw: bytes) -> set[str]:
    """Pieces of base64 text that appear whenever `raw` is encoded inside a longer byte string.

    base64 works on 3-byte groups, so a value lands at one of three alignments; for each, the
    characters that depend on the value's bytes only are the same in any surrounding blob.
    """
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode().rstrip("=")
        start = 4 if offset else 0
        end = len(encoded) if (offset + len(raw)) % 3 == 0 else (len(encoded) // 4) * 4
        core = encoded[start:end]
        if len(core) >= 8:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    return cores


def _forms(value: str) -> dict[str, str]:
    """Every form of `value` to look for, each with what replaces it."""
    shown = mask(value)
    forms = {value: shown, quote(value, safe=""): shown, quote(value): shown, quote_plus(value): shown,
             json.dumps(value)[1:-1]: shown, json.dumps(value, ensure_ascii=False)[1:-1]: shown}
    raw = value.encode()
    for blob in (raw, raw + b":"):  # "KEY:" is how Stripe-style APIs put a key in Basic auth
        forms[base64.b64encode(blob).decode()] = STARS
        forms[base64.urlsafe_b64encode(blob).decode()] = STARS
    for core in _base64_cores(raw):
        forms.setdefault(core, STARS)
    return forms


def _rebuild() -> None:
    global _pattern, _replacement, _snapshot
    replacement: dict[str, str] = {}
    for value in _values:
        for form, shown in _forms(value).items():
            replacement.setdefault(form, shown)
    # Longest first, so a value that contains another registered value is replaced whole.
    ordered = sorted(replacement, key=len, reverse=True)
    _replacement, _snapshot = replacement, frozenset(_values)
    _pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None


def _plain(value: Any) -> str:
    reveal = getattr(value, "reveal", None)
    return reveal() if callable(reveal) else str(value)


def register(value: Any) -> None:
    """Add a secret (a `str` or a `Secret`) to the values that `redact` hides, process-wide.
    Values shorter than `MIN_LENGTH` are ignored."""
    from purelink.runtime.auth import secret_parts

    plain = _plain(value)
    if len(plain) < MIN_LENGTH:
        return
    # a key file's private key, an S3 pair's secret half: hidden alone as well as whole
    fresh = [v for v in (plain, *secret_parts(plain)) if v not in _values]
    if fresh:
        with _lock:
            _values.update(fresh)
            _rebuild()


def unregister(value: Any) -> None:
    """Stop hiding a value (after a key was deleted or rotated)."""
    with _lock:
        _values.discard(_plain(value))
        _rebuild()


def clear() -> None:
    """Forget every registered value."""
    with _lock:
        _values.clear()
        _rebuild()


def _redact_basic(match: re.Match[str]) -> str:
    token = match.group(3).rstrip("=")
    token += "=" * (-len(token) % 4)
    decode = base64.urlsafe_b64decode if "-" in token or "_" in token else base64.b64decode
    try:
        decoded = decode(token).decode("utf-8", "replace")
    except ValueError:
        return match.group(0)
    if any(value in decoded for value in _snapshot):
        return f"{match.group(1)}{match.group(2)}{STARS}"
    return match.group(0)


def redact(text: str) -> str:
    """`text` with every registered secret, in any of its known forms, replaced by a mask."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    text = _BASIC.sub(_redact_basic, text)
    replacement = _replacement
    return pattern.sub(lambda m: replacement.get(m.group(0), STARS), text)


def contains_secret(data: str | bytes) -> bool:
    """True when a registered secret appears in `data`, in any of the forms `redact` knows."""
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    return redact(text) != text


def redact_bytes(data: bytes) -> bytes:
    """`redact` for bytes; bytes that are not UTF-8 pass through unchanged."""
    if _pattern is None:
        return data
    return redact(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


T = TypeVar("T")


def redact_data(obj: T) -> T:
    """A copy of a JSON-like structure (event, recipe, widget state) with secrets redacted in
    every string, keys included. Other values are returned as they are."""
    if isinstance(obj, str):
        return redact(obj)  # type: ignore[return-value]
    if isinstance(obj, dict):
        return {redact_data(k): redact_data(v) for k, v in obj.items()}  # type: ignore[return-value]
    if isinstance(obj, list | tuple):
        return type(obj)(redact_data(v) for v in obj)  # type: ignore[return-value]
    return obj


E = TypeVar("E", bound=BaseException)


def redact_exception(exc: E) -> E:
    """Redact an exception in place (its args, notes, and the `message`/`guidance` of a
    `PurelinkError`) and return it, so `raise redact_exception(exc)` shows no secret."""
    exc.args = tuple(redact_data(a) if isinstance(a, str | list | tuple | dict) else a for a in exc.args)
    for attr in ("message", "guidance"):
        if isinstance(getattr(exc, attr, None), str):
            setattr(exc, attr, redact(getattr(exc, attr)))
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        exc.__notes__ = [redact(n) if isinstance(n, str) else n for n in notes]
    return exc


def format_exception(exc: BaseException) -> str:
    """The traceback of `exc` as text, redacted."""
    return redact("".join(traceback.format_exception(exc)))


def redact_file(path: str | os.PathLike[str]) -> bool:
    """Rewrite a file without the secrets it holds (atomically, keeping its mode).
    Returns whether anything was replaced."""
    target = Path(path)
    data = target.read_bytes()
    cleaned = redact_bytes(data)
    if cleaned == data:
        return False
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(cleaned)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the message, its arguments, the exception text and the stack.

    Attach it to handlers (a logger's own filters do not see records propagated from child
    loggers); `install()` does that. The record's message is formatted once and the args dropped,
    so a secret split across the format string and its arguments is still found.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            # A format string that does not fit its args: logging would print both raw to stderr.
            message = f"{record.msg} (arguments: {record.args!r})"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            # Formatters use exc_text when it is set; dropping exc_info stops one that re-formats
            # the exception itself (JSON log formatters do) from printing the raw text.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(logger: logging.Logger | str | None = None) -> RedactingFilter:
    """Attach one `RedactingFilter` to a logger (the root logger by default) and to each of its
    handlers; safe to call again. Returns the filter."""
    target = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger)
    existing = [f for f in target.filters if isinstance(f, RedactingFilter)]
    flt = existing[0] if existing else RedactingFilter()
    owners: Iterable[logging.Filterer] = [target, *target.handlers]
    for owner in owners:
        if not any(isinstance(f, RedactingFilter) for f in owner.filters):
            owner.addFilter(flt)
    return flt
