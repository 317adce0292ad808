"""Where a key comes from: an explicit value, an environment variable, the vault, or a prompt
when a person is there. Engine, wizard and generated modules' callers all resolve through here.

    key = resolve_secret("stripe", env_vars=["STRIPE_API_KEY"])
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Sequence

from purelink.errors import CredentialError
from purelink.secrets import redact
from purelink.secrets.secret import VALID_NAME, Secret
from purelink.secrets.vault import Vault

__all__ = ["resolve_key", "resolve_secret"]


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def resolve_secret(name: str, *, explicit: str | Secret | None = None, env_vars: Sequence[str] | str = (),
                   vault: Vault | None = None, prompt: Callable[[str], str] | None = None,
                   interactive: bool | None = None, label: str | None = None) -> Secret:
    """Find the credential `name`: an explicit value, then the first of `env_vars` that is set,
    then the vault entry `name`, then a prompt when a person is there.

    A person is there when `interactive` says so, or (when it is None) when a `prompt` callable is
    given (getpass, a notebook Password widget) or stdin is a terminal; getpass is the default
    prompt. When nobody is there, `CredentialError` says which variable to set or which command
    to run. The result is registered for redaction.

    Example: `resolve_secret("stripe", env_vars=["STRIPE_API_KEY"], interactive=False)` with nothing
    set raises "No value found for the credential 'stripe'. Set the environment variable
    STRIPE_API_KEY, or store it once with `purelink secrets set stripe`."
    """
    env_list = [env_vars] if isinstance(env_vars, str) else list(env_vars)
    found: Secret | None = None
    if explicit is not None and (explicit.reveal() if isinstance(explicit, Secret) else explicit).strip():
        found = Secret(explicit, name=name, source="explicit")
    for var in env_list:
        if found is None and os.environ.get(var, "").strip():
            found = Secret(os.environ[var].strip(), name=name, source=f"env:{var}")
    if found is None and VALID_NAME.fullmatch(name):  # a name no vault entry can have is not looked up
        found = (vault if vault is not None else Vault()).get(name)
    if found is None:
        someone_there = interactive if interactive is not None else (prompt is not None or _stdin_is_tty())
        if someone_there:
            answer = (prompt or getpass.getpass)(f"{label or name} (input hidden): ")
            answer = answer.reveal() if isinstance(answer, Secret) else (answer or "")
            if not answer.strip():
                raise CredentialError(f"No value was entered for {label or name!r}.",
                                      "Paste the key when asked, or set it before starting.")
            found = Secret(answer.strip(), name=name, source="prompt")
    if found is None:
        where = (f"Set the environment variable {env_list[0]}" if len(env_list) == 1 else
                 f"Set one of the environment variables {', '.join(env_list)}" if env_list else
                 "Pass the value")
        raise CredentialError(f"No value found for the credential {name!r}.",
                              f"{where}, or store it once with `purelink secrets set {name}`.")
    redact.register(found)
    return found


def resolve_key(name: str, source_env: str | None = None, *, interactive: bool | None = False) -> Secret:
    """A recipe's key: the variable named like its credential, then the vault entry, and only then
    the source's documented variable (STRIPE_API_KEY). A recipe that names its own credential (the
    demo's `stripe_sandbox`) keeps it: a real key exported in the shell is never sent in its place.
    A recipe that names none reads the source's variable under its own name, which so wins over the
    vault's entry of that name."""
    if not source_env or source_env == name:
        return resolve_secret(name, env_vars=(name,), interactive=interactive)
    try:
        return resolve_secret(name, env_vars=(name,), interactive=False)
    except CredentialError:
        return resolve_secret(name, env_vars=(source_env,), interactive=interactive)
