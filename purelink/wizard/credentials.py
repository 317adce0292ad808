"""Stage 4 of a `Session`: the key of the chosen source.

A collaborator of the session, not a mixin: it reads the session's declared answers (`state`,
`spec`, `request_spec()`), and tells it when an answer changed (`changed("credentials")`). The
key typed here lives in this object's memory (`secret`), or encrypted in the vault; never in the
session's saved state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from purelink.errors import PurelinkError
from purelink.wizard.models import CredentialStatus, KeyHelp, SessionError

if TYPE_CHECKING:
    from purelink.secrets.secret import Secret
    from purelink.secrets.vault import Vault
    from purelink.wizard.session import Session


class Credentials:
    """The key a session's source needs: where one was found, checking a new one, handing it on."""

    def __init__(self, session: Session, vault: Vault | None = None) -> None:
        self.session = session
        self.secret: Secret | None = None  # typed (or accepted) in this session
        self.password: Secret | None = None  # the second secret of Basic with a password (Twilio's token)
        self._vault = vault

    def needs_key(self) -> bool:
        return self.session.spec.auth.style != "none"

    def name(self) -> str:
        """The secret's name: the one chosen in this session, else the source's name."""
        return self.session.state.credential or self.session.spec.name

    def vault(self) -> Vault:
        if self._vault is None:
            from purelink.secrets.vault import Vault

            self._vault = Vault()
        return self._vault

    def existing(self) -> Secret | None:
        """A key already there for this source: the environment variable, then the vault entry."""
        from purelink.secrets.resolve import resolve_secret

        spec = self.session.spec
        try:
            return resolve_secret(self.name(), env_vars=tuple(v for v in (spec.auth.env,) if v),
                                  vault=self.vault(), interactive=False)
        except PurelinkError:
            return None

    def guidance(self) -> KeyHelp:
        spec = self.session.spec
        a = spec.auth
        found = self.existing() if self.needs_key() else None
        where = None
        if found is not None:
            origin = found.source or ""
            where = (f"environment variable {origin[4:]}" if origin.startswith("env:")
                     else f"vault entry {self.name()}") + f": {found.masked()}"
        if found is not None and a.password_env and self.existing_password() is None:
            where = None  # half a Basic pair: both are asked for
        return KeyHelp(spec.title, self.needs_key(), a.guidance.dashboard_url, list(a.guidance.steps),
                       a.key_hint, a.guidance.test_vs_live, a.env, self.name(), where, a.password_env)

    def existing_password(self) -> Secret | None:
        """The Basic password of a source that has one (Twilio's auth token): its variable, then the vault."""
        from purelink.secrets.resolve import resolve_secret

        name = self.session.spec.auth.password_env
        if not name:
            return None
        try:
            return resolve_secret(name, env_vars=(name,), vault=self.vault(), interactive=False)
        except PurelinkError:
            return None

    def set(self, value: str | Secret, *, save: bool = True, name: str | None = None,
            password: str | Secret | None = None) -> CredentialStatus:
        """Check the key's format, send one live health-check request, and (save=True) encrypt it
        in the vault under `name` (default: the source's name). The value is never in the state.
        A source whose Basic auth has a password of its own (Twilio: the account SID and the auth
        token) takes it as `password` (or finds it under its variable), kept in the vault by that name."""
        from purelink.pipeline.preflight import health_check
        from purelink.secrets.keychecks import check_key_format
        from purelink.secrets.secret import Secret

        spec = self.session.request_spec()
        plain = value if isinstance(value, Secret) else value.strip()
        secret = Secret(plain, name=name or self.name())
        try:
            check_key_format(secret, spec.auth.key_pattern, source_title=spec.title)
        except PurelinkError as exc:
            guidance = " ".join(x for x in (spec.auth.key_hint, exc.guidance) if x)
            raise type(exc)(exc.message, guidance) from None
        second = self._password(password)
        result = health_check(spec, secret.reveal(), base_url=spec.base_url,
                              password=second.reveal() if second is not None else None)
        if not result.ok:
            result.raise_for_problem()
        st = self.session.state
        st.credential = name or self.name()
        if save:
            self.vault().set(st.credential, secret)
            if second is not None and second.source != f"vault:{spec.auth.password_env}":
                self.vault().set(spec.auth.password_env, second)
        self.secret, self.password = secret, second
        st.credential_saved, st.credential_ok = save, True
        self.session.changed("credentials")
        return CredentialStatus(st.credential, secret.masked(), result.message, save,
                                "vault" if save else "memory")

    def _password(self, given: str | Secret | None) -> Secret | None:
        from purelink.secrets.secret import Secret

        name = self.session.spec.auth.password_env
        if not name:
            return None
        if given is not None and (given.reveal() if isinstance(given, Secret) else given).strip():
            return given if isinstance(given, Secret) else Secret(given.strip(), name=name)
        found = self.password or self.existing_password()
        if found is None:
            raise SessionError(f"{self.session.spec.title} needs a second secret, {name} (the password of "
                               "HTTP Basic; the key is the user name).",
                               f"Enter both, or set the environment variable {name}.")
        return found

    def use_existing(self) -> CredentialStatus:
        """Accept the key found in the environment or the vault, after the same live check."""
        found = self.existing()
        if found is None:
            raise SessionError(f"No key for {self.session.spec.title} was found.",
                               "Enter it with set_credential(KEY).")
        status = self.set(found, save=False)  # never copies an environment variable into the vault
        if not (found.source or "").startswith("env:"):
            self.session.state.credential_saved, status.saved, status.where = True, True, "vault"
            self.session.save()
        return status

    def value(self) -> str | None:
        """The key's value for a request or a run, or None when the source needs none."""
        if not self.needs_key():
            return None
        if self.secret is None:
            found = self.existing()
            if found is None:
                raise SessionError("The key is not available in this session.",
                                   "Enter it again (credentials).")
            self.secret = found
        return self.secret.reveal()
