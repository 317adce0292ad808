"""`Secret`: a key or password that shows only a mask when printed, logged or formatted; and
the rules for a secret's name (it becomes a vault file name).

    key = Secret("sk_test_4eC39HqLyjWDarjtT1zdp7dc", name="stripe")
    print(key)                                # sk_test_****p7dc
    key.reveal()                              # the value itself, only where it is really sent
"""

from __future__ import annotations

import hmac
import os
import re
from pathlib import Path
from typing import Any, NoReturn

from purelink.errors import CredentialError
from purelink.secrets import redact

__all__ = ["Secret", "check_secret_name", "purelink_home"]

VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def check_secret_name(name: str) -> str:
    """Return `name` if it can name a vault entry (it becomes a file name), else raise."""
    if not isinstance(name, str) or not VALID_NAME.fullmatch(name):
        raise CredentialError(
            f"{name!r} is not a valid secret name.",
            "Use up to 100 letters, digits, '_', '-' or '.', starting with a letter or digit "
            "(for example stripe or stripe_live).")
    return name


def purelink_home() -> Path:
    """`$PURELINK_HOME`, or `~/.purelink`: where the vault and other per-user state live."""
    return Path(os.environ.get("PURELINK_HOME") or Path.home() / ".purelink").expanduser()


class Secret:
    """A secret value that shows only a mask when printed, logged, formatted or repr'd.

    `reveal()` returns the value; call it only where the value is really sent. A `Secret` refuses
    to be pickled (store its name instead) and is not a `str`, so `json.dumps` refuses it too.

    >>> s = Secret("sk_test_4eC39HqLyjWDarjtT1zdp7dc")
    >>> f"using {s}"
    'using sk_test_****p7dc'
    """

    __slots__ = ("_value", "name", "source")

    def __init__(self, value: str | Secret, *, name: str | None = None, source: str | None = None) -> None:
        plain = value.reveal() if isinstance(value, Secret) else value
        if not isinstance(plain, str):
            raise TypeError("a Secret holds a str")
        self._value = plain
        self.name = name  # the vault entry or credential it stands for, if any
        self.source = source  # where it came from: "explicit", "env:VAR", "vault:NAME" or "prompt"

    def reveal(self) -> str:
        """The value itself."""
        return self._value

    def masked(self) -> str:
        """The value as shown to people, e.g. `sk_test_****p7dc`."""
        return redact.mask(self._value)

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"Secret({self.masked()!r})"

    def __format__(self, spec: str) -> str:
        return format(self.masked(), spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            other = other._value
        if not isinstance(other, str):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other.encode())

    def __hash__(self) -> int:
        return hash(self._value)  # equal to the str it equals, as __eq__ requires

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled or serialized; store its name and resolve it again")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        self.__reduce__()

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self
