"""The encrypted vault of API keys and passwords.

    vault = Vault()                           # $PURELINK_HOME/vault, default ~/.purelink/vault
    vault.set("stripe", "sk_test_4eC39HqLyjWDarjtT1zdp7dc")
    vault.get("stripe")                       # a Secret: prints as sk_test_****p7dc

The value holder is `purelink.secrets.secret.Secret`; where a key comes from (explicit value,
environment, vault, prompt) is `purelink.secrets.resolve.resolve_secret`.

Recipes hold a secret's name, never its value. The vault is AES-256-GCM; its key lives in the OS
keyring where one really works, else in a key file only its owner can read, or comes from a
passphrase through scrypt when the user asks for one (`PURELINK_VAULT_PASSPHRASE`). Checks of a
key's shape and of a health-check answer are in `purelink.secrets.keychecks`. See SECURITY.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

from purelink.errors import CredentialError
from purelink.secrets import redact
from purelink.secrets.files import fsync_dir, write_private
from purelink.secrets.secret import Secret, check_secret_name, purelink_home

__all__ = ["Secret", "SecretInfo", "Vault", "check_secret_name", "purelink_home"]


PASSPHRASE_ENV = "PURELINK_VAULT_PASSPHRASE"
KEYRING_ENV = "PURELINK_VAULT_KEYRING"  # "0" keeps the OS keyring out (CI, shared machines)
KEYRING_SERVICE = "purelink-vault"
ENVELOPE_VERSION = 1
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
KeySource = Literal["keyring", "key file", "passphrase"]


@dataclass(frozen=True)
class SecretInfo:
    """What `Vault.list` tells about an entry: never its value."""

    name: str
    created: str | None
    updated: str | None
    key_source: str | None
    damaged: bool = False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _key_id(key: bytes) -> str:
    # Stored beside each entry so a wrong key is told apart from a damaged file. It reveals
    # nothing usable: an HMAC of a constant under a 256-bit key.
    return hmac.new(key, b"purelink vault key id", hashlib.sha256).hexdigest()[:16]


def _usable_keyring() -> Any | None:
    """The OS keyring backend, when one that really stores secrets safely is there."""
    try:
        import keyring  # optional: not every machine has a keyring, and we do not require one
        from keyring.backends.chainer import ChainerBackend
    except Exception:  # noqa: BLE001 - a broken optional install must not stop the vault
        return None
    try:
        backend = keyring.get_keyring()
        parts = list(backend.backends) if isinstance(backend, ChainerBackend) else [backend]
    except Exception:  # noqa: BLE001 - keyring backends raise all sorts (D-Bus, locked, ...)
        return None
    for part in parts:
        kind = f"{type(part).__module__}.{type(part).__name__}".lower()
        if part.priority < 1 or any(word in kind for word in ("fail", "null", "plaintext")):
            return None
    return backend if parts else None


class Vault:
    """The encrypted store of API keys and passwords.

    One small JSON envelope per secret, `<home>/vault/NAME.json`, rather than one file for all:
    a write replaces one file atomically, so two processes saving different secrets never lose
    each other's; listing reads names and dates without decrypting; deleting is unlinking. Each
    envelope holds the version, the key source, a key id, a 96-bit random nonce (new for every
    write), the ciphertext with its GCM tag, and created/updated times. The secret's name is the
    associated data, so an entry copied or renamed to another name fails to decrypt.

    `passphrase` (or `$PURELINK_VAULT_PASSPHRASE`) asks for a passphrase-derived key (scrypt,
    n=2**17, r=8, p=1, salt in `vault/scrypt.params`). Otherwise the key comes from the OS keyring
    when one really works (and `use_keyring` or `$PURELINK_VAULT_KEYRING` does not say no), else
    from `vault/master.key`, created on first use and readable by its owner only.
    """

    def __init__(self, home: str | os.PathLike[str] | None = None, *, passphrase: str | Secret | None = None,
                 use_keyring: bool | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else purelink_home()
        self.path = self.home / "vault"
        if passphrase is None and os.environ.get(PASSPHRASE_ENV):
            passphrase = os.environ[PASSPHRASE_ENV]
        self._passphrase = Secret(passphrase) if passphrase is not None else None
        if use_keyring is None:
            use_keyring = os.environ.get(KEYRING_ENV, "1").strip().lower() not in {"0", "no", "false", "off"}
        self._use_keyring = use_keyring
        self._key: bytes | None = None
        self._source: KeySource | None = None

    # files

    @property
    def key_file(self) -> Path:
        return self.path / "master.key"

    @property
    def params_file(self) -> Path:
        return self.path / "scrypt.params"

    def _entry(self, name: str) -> Path:
        return self.path / f"{check_secret_name(name)}.json"

    def _ensure_folder(self) -> None:
        if not self.home.exists():
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.path, 0o700)  # also tightens a folder made by hand or under a loose umask

    # the master key

    @property
    def key_source(self) -> KeySource:
        """Where this vault's key comes from (decided without creating anything)."""
        if self._source is None:
            self._source = self._choose_source()
        return self._source

    def _choose_source(self) -> KeySource:
        if self._passphrase is not None:
            return "passphrase"
        if self.key_file.exists():
            return "key file"
        if self.params_file.exists():
            raise CredentialError(
                f"The vault in {self.path} is protected by a passphrase.",
                f"Set the environment variable {PASSPHRASE_ENV} to it (or pass passphrase=...).")
        return "keyring" if self._use_keyring and _usable_keyring() is not None else "key file"

    def _master_key(self, *, create: bool) -> bytes | None:
        if self._key is None:
            source = self.key_source
            if source == "passphrase":
                self._key = self._passphrase_key(create=create)
            elif source == "keyring":
                self._key = self._keyring_key(create=create)
            else:
                self._key = self._file_key(create=create)
        return self._key

    def _file_key(self, *, create: bool) -> bytes | None:
        path = self.key_file
        if not path.exists():
            if not create:
                return None
            self._ensure_folder()
            write_private(path, os.urandom(32), exclusive=True)
        # Checked on the open file itself (and never through a symlink), so what was checked is
        # what is read.
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise CredentialError(f"The vault key file {path} cannot be opened ({exc.strerror}).",
                                  "It must be a regular file (not a link) that you own.") from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if os.name == "posix" and st.st_mode & 0o077:
                raise CredentialError(
                    f"The vault key file {path} can be read or changed by other users "
                    f"(mode {st.st_mode & 0o777:o}), so purelink will not use it.",
                    f"Run `chmod 600 {path}` and try again. If anyone else may have copied it, "
                    "rotate your keys: see SECURITY.md.")
            if os.name == "posix" and st.st_uid != os.getuid():
                raise CredentialError(f"The vault key file {path} belongs to another user.",
                                      f"Use your own PURELINK_HOME, or `chown` {path} to yourself.")
            key = fh.read(33)
        if len(key) != 32:
            raise CredentialError(
                f"The vault key file {path} is damaged (it holds {len(key)} bytes, not 32).",
                "Restore it from a backup; otherwise delete it and store each secret again with "
                "`purelink secrets set NAME` (the old entries cannot be read without it).")
        return key

    def _keyring_key(self, *, create: bool) -> bytes | None:
        backend = _usable_keyring()
        account = str(self.path.resolve())  # one key per vault folder, so test homes stay apart
        try:
            stored = backend.get_password(KEYRING_SERVICE, account) if backend else None
            if stored is None and create and backend is not None:
                backend.set_password(KEYRING_SERVICE, account, base64.b64encode(os.urandom(32)).decode())
                stored = backend.get_password(KEYRING_SERVICE, account)
        except Exception as exc:  # noqa: BLE001 - keyring backends raise all sorts (D-Bus, locked, ...)
            raise CredentialError(
                f"The OS keyring holding the vault key could not be used ({type(exc).__name__}).",
                f"Unlock the keyring and try again, or set {KEYRING_ENV}=0 to keep the key in "
                f"{self.key_file} instead (secrets saved with the keyring key must then be set again).",
            ) from None
        if stored is None:
            return None
        try:
            key = base64.b64decode(stored, validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise CredentialError("The vault key in the OS keyring is damaged.",
                                  f"Delete the keyring entry {KEYRING_SERVICE!r} and set your secrets again.")
        return key

    def _passphrase_key(self, *, create: bool) -> bytes | None:
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        assert self._passphrase is not None
        if not self._passphrase:
            raise CredentialError("The vault passphrase is empty.", f"Set {PASSPHRASE_ENV} to a real passphrase.")
        path = self.params_file
        if not path.exists():
            if not create:
                return None
            self._ensure_folder()
            params = {"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                      "salt": base64.b64encode(os.urandom(16)).decode(), "created": _now()}
            write_private(path, json.dumps(params, indent=1).encode(), exclusive=True)
        try:
            params = json.loads(path.read_text())
            salt = base64.b64decode(params["salt"], validate=True)
            n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
        except (ValueError, KeyError, TypeError):
            raise CredentialError(f"The passphrase settings {path} are damaged.",
                                  "Restore the file from a backup; without its salt the vault cannot be read."
                                  ) from None
        # cryptography's Scrypt sizes OpenSSL's memory limit from n, r, p itself (128*n*r bytes is
        # 128 MiB here); hashlib.scrypt would need maxmem= to allow that.
        return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(self._passphrase.reveal().encode())

    # entries

    def _aad(self, name: str) -> bytes:
        return f"purelink-vault/v{ENVELOPE_VERSION}/{name}".encode()

    def set(self, name: str, value: str | Secret) -> None:
        """Encrypt and store `value` under `name`, replacing what was there."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        path = self._entry(name)
        plain = value.reveal() if isinstance(value, Secret) else value
        if not plain:
            raise CredentialError(f"Refusing to store an empty value for {name!r}.",
                                  "Give the key or password itself.")
        self._ensure_folder()
        key = self._master_key(create=True)
        assert key is not None
        created = _now()
        old = self._read_envelope(name, path) if path.exists() else None
        if old and isinstance(old.get("created"), str):
            created = old["created"]
        nonce = os.urandom(12)  # 96 bits, random for every write: never reused under one key
        sealed = AESGCM(key).encrypt(nonce, plain.encode(), self._aad(name))
        envelope = {"version": ENVELOPE_VERSION, "name": name, "cipher": "AES-256-GCM",
                    "key_source": self.key_source, "key_id": _key_id(key),
                    "nonce": base64.b64encode(nonce).decode(),
                    "ciphertext": base64.b64encode(sealed).decode(),
                    "created": created, "updated": _now()}
        write_private(path, json.dumps(envelope, indent=1).encode())
        redact.register(plain)  # it was just typed or pasted: keep it out of what comes next

    def get(self, name: str) -> Secret | None:
        """The secret stored under `name` (registered for redaction), or None when there is none.

        Raises `CredentialError` when the entry exists but cannot be read: a wrong key, a wrong
        passphrase, or a file that was changed.
        """
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        path = self._entry(name)
        if not path.exists():
            return None
        env = self._read_envelope(name, path)
        try:
            nonce = base64.b64decode(env["nonce"], validate=True)
            sealed = base64.b64decode(env["ciphertext"], validate=True)
            readable = env.get("version") == ENVELOPE_VERSION and len(nonce) == 12
        except (KeyError, TypeError, ValueError):
            readable = False
        if not readable:
            self._damaged(name, path)
        key = self._master_key(create=False)
        if key is None or env.get("key_id") != _key_id(key):
            self._wrong_key(name, env.get("key_source"))
        try:
            plain: bytes | None = AESGCM(key).decrypt(nonce, sealed, self._aad(name))
        except InvalidTag:  # raised below, outside this block, so no InvalidTag trails the message
            plain = None
        if plain is None:
            self._damaged(name, path)
        secret = Secret(plain.decode(), name=name, source=f"vault:{name}")
        redact.register(secret)
        return secret

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._entry(name).exists()

    def delete(self, name: str) -> None:
        """Remove the entry `name`; `CredentialError` when there is none."""
        path = self._entry(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise CredentialError(f"There is no secret named {name!r} in the vault ({self.path}).",
                                  "`purelink secrets list` shows the names it holds.") from None
        fsync_dir(self.path)

    def list(self) -> list[SecretInfo]:
        """Names and dates of the stored secrets, sorted by name; values are not decrypted."""
        if not self.path.is_dir():
            return []
        infos = []
        for path in sorted(self.path.glob("*.json")):
            name = path.stem
            try:
                env = json.loads(path.read_text())
                infos.append(SecretInfo(name, env.get("created"), env.get("updated"), env.get("key_source")))
            except (OSError, ValueError, AttributeError):
                infos.append(SecretInfo(name, None, None, None, damaged=True))
        return infos

    def _read_envelope(self, name: str, path: Path) -> dict[str, Any]:
        try:
            env = json.loads(path.read_text())
        except (OSError, ValueError):
            env = None
        if not isinstance(env, dict):
            self._damaged(name, path)
        return env

    def _damaged(self, name: str, path: Path) -> NoReturn:
        raise CredentialError(
            f"The vault entry {name!r} failed its integrity check: {path} was changed, damaged, "
            "or copied from another entry, so purelink will not use it.",
            f"Store the key again with `purelink secrets set {name}`. If you did not change the file "
            "yourself, someone else may have: rotate the key with its provider (see SECURITY.md).")

    def _wrong_key(self, name: str, written_with: Any) -> NoReturn:
        now = self.key_source
        if written_with == "passphrase" and now == "passphrase":
            hint = f"The passphrase is not the one it was saved with: check {PASSPHRASE_ENV}."
        elif written_with == "passphrase":
            hint = f"It was saved with a passphrase: set {PASSPHRASE_ENV} to it."
        elif written_with == "keyring" and now != "keyring":
            hint = (f"It was saved with a key kept in the OS keyring, which is not available now "
                    f"(or {KEYRING_ENV}=0 is set): run where that keyring is unlocked.")
        elif written_with == "key file" and now == "passphrase":
            hint = f"It was saved with the key file {self.key_file}: unset {PASSPHRASE_ENV}."
        else:
            hint = (f"The vault key ({now}) changed since it was saved; restore the old key "
                    f"{'file ' + str(self.key_file) + ' ' if now == 'key file' else ''}from a backup.")
        raise CredentialError(
            f"The vault entry {name!r} was encrypted with a different key than the one in use.",
            f"{hint} Otherwise store it again: `purelink secrets set {name}`.")
