"""A PostgreSQL server's password, and libpq's password file (PGPASSFILE, else ~/.pgpass) read on
the host the way libpq reads it.

A run in a container cannot see the user's password file, and the file names the host as the
user wrote it (127.0.0.1), not as the container reaches it (host.docker.internal). So the password
a line gives for a recipe's server is looked up here, before the run, and travels like any other
secret: on the container's stdin, never in a file, the environment or `docker inspect`.
"""

from __future__ import annotations

import getpass
import os
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit


def password_file() -> Path:
    return Path(os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")


def fields(line: str) -> list[str]:
    """A line's colon-separated fields, with `\\:` and `\\\\` unescaped."""
    out, current, escaped = [], [], False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            out.append("".join(current))
            current = []
        else:
            current.append(char)
    out.append("".join(current))
    return out


def lookup(url: str) -> str | None:
    """The password the file gives for the URL's host, port, database and user, or None. Like
    libpq: the first matching line wins, `*` matches anything, and a file that others may read
    is ignored."""
    path = password_file()
    try:
        if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            return None
        lines = path.read_text().splitlines()
    except OSError:
        return None
    parts = urlsplit(url)
    user = unquote(parts.username or "") or os.environ.get("PGUSER") or getpass.getuser()
    wanted = [parts.hostname or "localhost", str(parts.port or 5432), unquote(parts.path.lstrip("/")) or user, user]
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = fields(line)
        if len(found) < 5:
            continue
        if all(given in ("*", want) for given, want in zip(found[:4], wanted, strict=True)):
            return ":".join(found[4:]) or None
    return None


def server_password(name: str, label: str, interactive: bool | None, *, url: str | None = None,
                    env_vars: tuple[str, ...] = ()) -> str | None:
    """The password a run hands to a PostgreSQL server: the secret `name` (the environment, the
    vault), else the password file's line for `url`, else a prompt when someone is there, else
    none: a server may need none (trust), and one that asks gets an error naming the secret."""
    from purelink.secrets import redact
    from purelink.secrets.resolve import CredentialError, resolve_secret

    names = env_vars or (name,)
    try:
        return resolve_secret(name, env_vars=names, interactive=False, label=label).reveal()
    except CredentialError:
        pass
    found = lookup(url) if url else None
    if found:
        redact.register(found)
        return found
    if not interactive:
        return None
    try:
        return resolve_secret(name, env_vars=names, interactive=True, label=label).reveal()
    except CredentialError:  # nothing entered: the server decides
        return None
