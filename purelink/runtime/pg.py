"""Connecting to PostgreSQL through ADBC: URLs without passwords, secrets by name, clear errors.

Recipes and generated modules hold a connection URL *without* the password
(`postgresql://etl@db.plant1:5432/refills`); the password is read at run time from the secret
it names. ADBC's PostgreSQL driver (libpq underneath) is imported lazily so the runtime stays
light for pipelines that never touch a database.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote as urlquote
from urllib.parse import unquote, urlsplit, urlunsplit

from purelink.runtime.auth import mask, optional_secret
from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.net import reachable

SCHEMES = ("postgresql", "postgres")


def quote(name: str) -> str:
    """A PostgreSQL identifier, quoted: never trust a table or column name to be plain."""
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str) -> str:
    return ".".join(quote(p) for p in parts)


def describe(url: str, database: str | None = None) -> str:
    """`user@host:port/db` for messages; never includes a password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{unquote(parts.username)}@" if parts.username else ""
    db = database or unquote(parts.path.lstrip("/")) or "postgres"
    return f"{user}{host}{port}/{db}"


def connection_uri(url: str, password: str | None, database: str | None = None) -> str:
    """The URL with the password put in and, optionally, another database on the same server."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise RuntimeFailure(f"{url!r} is not a PostgreSQL URL.",
                             "Write it as postgresql://USER@HOST:PORT/DATABASE (without the password).")
    if parts.password:
        raise RuntimeFailure("The PostgreSQL URL contains a password.",
                             "Remove it from the URL and store it as a secret: `purelink secrets set NAME`.")
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user}:{urlquote(password, safe='')}@{host}" if user else \
            f":{urlquote(password, safe='')}@{host}"
    path = "/" + urlquote(database, safe="") if database else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


def driver():
    try:
        from adbc_driver_postgresql import dbapi
    except ImportError:
        raise RuntimeFailure(
            "The PostgreSQL driver is not installed.",
            "Install it with `pip install adbc-driver-postgresql` (or `pip install purelink-jupyter[postgres]`).",
        ) from None
    return dbapi


def connect(url: str, *, password: str | None, database: str | None = None, role: str = "source") -> Any:
    """An ADBC DB-API connection (autocommit off: every write belongs to an explicit transaction)."""
    dbapi = driver()
    secret = optional_secret(password) if password else None
    try:
        return dbapi.connect(connection_uri(reachable(url), secret, database))
    except dbapi.Error as exc:
        if password and secret is None and "password" in first_line(exc).lower():
            raise RuntimeFailure(
                f"The PostgreSQL {role} {describe(url, database)} asks for a password, and the secret {password} "
                f"holds none: {first_line(exc)}",
                f"Set the environment variable {password}, or store it with `purelink secrets set {password}`"
                + (" (or name another vault entry with --destination-credential NAME)." if role == "warehouse"
                   else "."),
            ) from None
        raise RuntimeFailure(
            f"Cannot connect to the PostgreSQL {role} {describe(url, database)}: {first_line(exc)}",
            f"Check host, port, database and user in the URL{f', and the password in the secret {password}' if password else ''}; "
            "the server must accept connections from this machine (pg_hba.conf).",
        ) from None


def first_line(exc: BaseException) -> str:
    """The driver's message without its prefix noise, masked."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for noise in ("IO: ", "INTERNAL: ", "INVALID_ARGUMENT: ", "[libpq] "):
        text = text.replace(noise, "")
    return mask(text)


def fetch(cursor: Any, sql: str, params: list | tuple | None = None) -> list[tuple]:
    """A small read (catalog queries): parameters are bound, never pasted into the SQL."""
    if params:
        cursor.execute(sql, parameters=list(params))
    else:
        cursor.execute(sql)
    return cursor.fetchall()
