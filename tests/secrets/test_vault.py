"""The vault, `Secret`, resolution order, key checks and the `purelink secrets` command.

Real files and real cryptography throughout; PURELINK_HOME points at a temp folder.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import logging
import os
import pickle
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from purelink.errors import CredentialError, SourceError
from purelink.secrets import redact
from purelink.secrets.keychecks import check_key_format, classify_health_check
from purelink.secrets.resolve import resolve_key, resolve_secret
from purelink.secrets.vault import Secret, Vault

REPO = Path(__file__).resolve().parents[2]
KEY = "sk_test_51HcanaryQ7xZr2LmNpW9vB3kTy8sDfGh"
STRIPE_PATTERN = r"(sk|rk)_(test|live)_[A-Za-z0-9]{10,}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path))
    monkeypatch.setenv("PURELINK_VAULT_KEYRING", "0")  # never touch the keyring of whoever runs this
    monkeypatch.delenv("PURELINK_VAULT_PASSPHRASE", raising=False)
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    yield tmp_path
    redact.clear()


def envelope(home: Path, name: str) -> dict:
    return json.loads((home / "vault" / f"{name}.json").read_text())


def all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


# --- the vault ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [KEY, "pässwörd with spaces ✓", "x" * 5000])
def test_round_trip(home: Path, value: str) -> None:
    Vault().set("stripe", value)
    got = Vault().get("stripe")  # a new instance reads the key file again
    assert isinstance(got, Secret)
    assert got.reveal() == value
    assert got.source == "vault:stripe"


def test_missing_entry_is_none_and_list_is_empty(home: Path) -> None:
    assert Vault().get("stripe") is None
    assert Vault().list() == []
    assert not (home / "vault").exists()  # reading creates nothing


def test_value_never_stored_in_plain_text(home: Path) -> None:
    Vault().set("stripe", KEY)
    stored = all_bytes(home)
    for form in (KEY.encode(), base64.b64encode(KEY.encode()), KEY[8:].encode()):
        assert form not in stored


def test_fresh_nonce_for_every_write(home: Path) -> None:
    vault = Vault()
    nonces, ciphertexts = set(), set()
    for i in range(30):
        vault.set("stripe" if i % 2 else f"other{i}", KEY)
        env = envelope(home, "stripe" if i % 2 else f"other{i}")
        assert len(base64.b64decode(env["nonce"])) == 12
        nonces.add(env["nonce"])
        ciphertexts.add(env["ciphertext"])
    assert len(nonces) == 30
    assert len(ciphertexts) == 30  # the same value never encrypts to the same bytes


def test_update_keeps_created_and_moves_updated(home: Path) -> None:
    vault = Vault()
    vault.set("stripe", KEY)
    first = envelope(home, "stripe")
    vault.set("stripe", KEY + "2")
    second = envelope(home, "stripe")
    assert second["created"] == first["created"]
    assert vault.get("stripe").reveal() == KEY + "2"


def test_name_is_bound_as_associated_data(home: Path) -> None:
    vault = Vault()
    vault.set("alpha", KEY)
    vault.set("beta", "another-secret-value-123")
    a, b = envelope(home, "alpha"), envelope(home, "beta")
    for field in ("nonce", "ciphertext"):
        a[field], b[field] = b[field], a[field]
    (home / "vault" / "alpha.json").write_text(json.dumps(a))
    (home / "vault" / "beta.json").write_text(json.dumps(b))
    for name in ("alpha", "beta"):
        with pytest.raises(CredentialError, match="integrity check") as info:
            vault.get(name)
        assert f"purelink secrets set {name}" in info.value.guidance


def test_entry_copied_to_another_name_fails(home: Path) -> None:
    Vault().set("alpha", KEY)
    (home / "vault" / "gamma.json").write_bytes((home / "vault" / "alpha.json").read_bytes())
    with pytest.raises(CredentialError, match="integrity check"):
        Vault().get("gamma")


@pytest.mark.parametrize("damage", ["flip_ciphertext", "flip_nonce", "truncate", "not_json", "empty"])
def test_tampered_entry_gives_a_clear_error(home: Path, damage: str) -> None:
    Vault().set("stripe", KEY)
    path = home / "vault" / "stripe.json"
    env = envelope(home, "stripe")
    if damage in ("flip_ciphertext", "flip_nonce"):
        field = "ciphertext" if damage == "flip_ciphertext" else "nonce"
        raw = bytearray(base64.b64decode(env[field]))
        raw[3] ^= 0x01
        env[field] = base64.b64encode(bytes(raw)).decode()
        path.write_text(json.dumps(env))
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:60])
    elif damage == "not_json":
        path.write_text("hello")
    else:
        path.write_bytes(b"")
    with pytest.raises(CredentialError) as info:
        Vault().get("stripe")
    text = str(info.value)
    assert "'stripe' failed its integrity check" in text
    assert "InvalidTag" not in text and KEY not in text
    assert "purelink secrets set stripe" in text
    assert info.value.__cause__ is None and info.value.__context__ is None  # no InvalidTag trailing it


def test_damaged_entries_still_listed(home: Path) -> None:
    Vault().set("good", KEY)
    (home / "vault" / "bad.json").write_text("{oops")
    infos = {i.name: i for i in Vault().list()}
    assert infos["bad"].damaged and not infos["good"].damaged


def test_wrong_key_file_gives_a_clear_error(home: Path) -> None:
    Vault().set("stripe", KEY)
    key_file = home / "vault" / "master.key"
    key_file.write_bytes(os.urandom(32))
    with pytest.raises(CredentialError, match="different key") as info:
        Vault().get("stripe")
    assert "master.key" in info.value.guidance and "purelink secrets set stripe" in info.value.guidance


def test_permissions(home: Path) -> None:
    Vault().set("stripe", KEY)
    folder = home / "vault"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("stripe.json", "master.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert (folder / "master.key").stat().st_size == 32
    assert sorted(p.name for p in folder.iterdir()) == ["master.key", "stripe.json"]  # no temp files left


def test_loose_folder_is_tightened(home: Path) -> None:
    (home / "vault").mkdir(mode=0o755)
    os.chmod(home / "vault", 0o755)
    Vault().set("stripe", KEY)
    assert stat.S_IMODE((home / "vault").stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_key_file_readable_by_others_is_refused(home: Path, mode: int) -> None:
    Vault().set("stripe", KEY)
    key_file = home / "vault" / "master.key"
    os.chmod(key_file, mode)
    with pytest.raises(CredentialError, match="other users") as info:
        Vault().get("stripe")
    assert f"chmod 600 {key_file}" in info.value.guidance
    with pytest.raises(CredentialError, match="chmod 600"):
        Vault().set("other", KEY)


def test_symlinked_key_file_is_refused(home: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    Vault().set("stripe", KEY)
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "key"
    key_file = home / "vault" / "master.key"
    key_file.rename(elsewhere)
    key_file.symlink_to(elsewhere)
    with pytest.raises(CredentialError, match="not a link"):
        Vault().get("stripe")


def test_name_unfit_for_the_vault_still_gets_the_helpful_error(home: Path) -> None:
    with pytest.raises(CredentialError, match="Set the environment variable STRIPE API KEY"):
        resolve_secret("Stripe API key", env_vars=["STRIPE API KEY"], interactive=False)


def test_damaged_key_file(home: Path) -> None:
    Vault().set("stripe", KEY)
    (home / "vault" / "master.key").write_bytes(b"short")
    with pytest.raises(CredentialError, match="damaged"):
        Vault().get("stripe")


def test_passphrase_mode(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each derivation costs scrypt n=2**17 (128 MiB, ~0.5 s): one to write, one wrong, no more.
    vault = Vault(passphrase="correct horse battery staple")
    vault.set("stripe", KEY)
    assert vault.key_source == "passphrase"
    assert vault.get("stripe").reveal() == KEY
    params = json.loads((home / "vault" / "scrypt.params").read_text())
    assert (params["n"], params["r"], params["p"]) == (2**17, 8, 1)
    assert len(base64.b64decode(params["salt"])) == 16
    assert stat.S_IMODE((home / "vault" / "scrypt.params").stat().st_mode) == 0o600
    assert not (home / "vault" / "master.key").exists()
    assert KEY.encode() not in all_bytes(home)

    monkeypatch.setenv("PURELINK_VAULT_PASSPHRASE", "wrong horse")
    with pytest.raises(CredentialError, match="different key") as info:
        Vault().get("stripe")
    assert "PURELINK_VAULT_PASSPHRASE" in info.value.guidance

    monkeypatch.delenv("PURELINK_VAULT_PASSPHRASE")
    with pytest.raises(CredentialError, match="protected by a passphrase"):
        Vault().get("stripe")  # no derivation, no key file created behind the user's back
    assert not (home / "vault" / "master.key").exists()


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "x" * 101, "with space"])
def test_bad_names_refused(home: Path, name: str) -> None:
    with pytest.raises(CredentialError, match="not a valid secret name"):
        Vault().set(name, KEY)


def test_delete(home: Path) -> None:
    vault = Vault()
    vault.set("stripe", KEY)
    assert "stripe" in vault
    vault.delete("stripe")
    assert "stripe" not in vault and vault.get("stripe") is None
    with pytest.raises(CredentialError, match="no secret named 'stripe'"):
        vault.delete("stripe")


def test_get_registers_for_redaction(home: Path) -> None:
    Vault().set("stripe", KEY)
    Vault().get("stripe")
    assert KEY not in redact.redact(f"key={KEY}")


# --- Secret ------------------------------------------------------------------------------------


def test_secret_masks_everywhere() -> None:
    s = Secret(KEY)
    assert str(s) == "sk_test_****DfGh"
    assert repr(s) == "Secret('sk_test_****DfGh')"
    # %-formatting goes through the same __str__/__repr__; test_secret_in_logging covers it.
    for shown in (f"{s}", f"{s!r}", f"{s:>40}", format(s), str.format("{}", s), str([s]), str({"k": s})):
        assert KEY not in shown and "****" in shown
    assert s.reveal() == KEY


@pytest.mark.parametrize("value", ["hunter2", "short-password", "sk_test_abc", "pässwörd"])
def test_short_secrets_are_all_stars(value: str) -> None:
    assert str(Secret(value)) == "****"


def test_secret_in_logging() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("purelink.test.secret")
    logger.addHandler(handler)
    try:
        logger.warning("using %s and %r", Secret(KEY), Secret(KEY))
    finally:
        logger.removeHandler(handler)
    assert KEY not in stream.getvalue() and "sk_test_****DfGh" in stream.getvalue()


def test_secret_refuses_pickle_and_json() -> None:
    s = Secret(KEY)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(s, protocol=protocol)
    with pytest.raises(TypeError):
        json.dumps({"key": s})
    assert copy.deepcopy(s) is s and copy.copy(s) is s


def test_secret_equality_is_on_value() -> None:
    assert Secret(KEY) == Secret(KEY) == KEY
    assert Secret(KEY) != Secret(KEY + "x")
    assert len({Secret(KEY), Secret(KEY)}) == 1
    assert not Secret("") and Secret(KEY)


# --- resolution order --------------------------------------------------------------------------


def test_explicit_wins(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_fromenvironment0001")
    Vault().set("stripe", "sk_test_fromthevault00000001")
    got = resolve_secret("stripe", explicit=KEY, env_vars=["STRIPE_API_KEY"], interactive=False)
    assert got.reveal() == KEY and got.source == "explicit"


def test_environment_before_vault(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_KEY_B", "sk_test_fromenvironment0002")
    Vault().set("stripe", "sk_test_fromthevault00000001")
    got = resolve_secret("stripe", env_vars=["STRIPE_KEY_A", "STRIPE_KEY_B"], interactive=False)
    assert got.reveal() == "sk_test_fromenvironment0002" and got.source == "env:STRIPE_KEY_B"


def test_a_named_credential_is_not_overridden_by_the_sources_variable(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's recipe names stripe_sandbox: a real key exported as STRIPE_API_KEY must not be sent
    in its place. The source's variable is the last resort for a named credential, and the first
    place for a recipe that names none (its credential is STRIPE_API_KEY itself)."""
    monkeypatch.setenv("STRIPE_API_KEY", "sk_live_theuserssecret000001")
    Vault().set("stripe_sandbox", KEY)
    got = resolve_key("stripe_sandbox", "STRIPE_API_KEY")
    assert got.reveal() == KEY and got.source == "vault:stripe_sandbox"
    monkeypatch.setenv("stripe_sandbox", "sk_test_fromitsownvariable01")
    assert resolve_key("stripe_sandbox", "STRIPE_API_KEY").source == "env:stripe_sandbox"
    fallback = resolve_key("stripe_other", "STRIPE_API_KEY")  # neither its variable nor the vault has it
    assert fallback.reveal() == "sk_live_theuserssecret000001" and fallback.source == "env:STRIPE_API_KEY"
    Vault().set("STRIPE_API_KEY", "sk_test_fromthevault00000001")
    assert resolve_key("STRIPE_API_KEY", "STRIPE_API_KEY").source == "env:STRIPE_API_KEY"  # exported wins
    monkeypatch.delenv("STRIPE_API_KEY")
    with pytest.raises(CredentialError) as missing:
        resolve_key("stripe_other", "STRIPE_API_KEY")
    assert "STRIPE_API_KEY" in missing.value.guidance and "purelink secrets set stripe_other" in missing.value.guidance


def test_empty_environment_variable_is_skipped(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "  ")
    Vault().set("stripe", KEY)
    assert resolve_secret("stripe", env_vars="STRIPE_API_KEY", interactive=False).source == "vault:stripe"


def test_vault_before_prompt(home: Path) -> None:
    Vault().set("stripe", KEY)
    asked = []
    got = resolve_secret("stripe", env_vars=["STRIPE_API_KEY"], prompt=asked.append)
    assert got.reveal() == KEY and asked == []


def test_prompt_when_a_person_is_there(home: Path) -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return KEY + "\n"

    got = resolve_secret("stripe", env_vars=["STRIPE_API_KEY"], prompt=prompt, label="Stripe secret key")
    assert got.reveal() == KEY and got.source == "prompt"
    assert asked == ["Stripe secret key (input hidden): "]
    assert KEY not in redact.redact(KEY)  # resolved values are registered


def test_prompt_not_used_when_interactive_is_false(home: Path) -> None:
    with pytest.raises(CredentialError):
        resolve_secret("stripe", prompt=lambda _: KEY, interactive=False)


def test_empty_prompt_answer(home: Path) -> None:
    with pytest.raises(CredentialError, match="No value was entered"):
        resolve_secret("stripe", prompt=lambda _: "")


def test_nobody_there(home: Path) -> None:
    # pytest's stdin is not a terminal and no prompt is given: nobody can be asked.
    with pytest.raises(CredentialError) as info:
        resolve_secret("stripe", env_vars=["STRIPE_API_KEY"])
    assert "Set the environment variable STRIPE_API_KEY" in info.value.guidance
    assert "`purelink secrets set stripe`" in info.value.guidance


def test_nobody_there_in_a_real_process(home: Path) -> None:
    code = ("from purelink.secrets.resolve import resolve_secret\n"
            "resolve_secret('shop', env_vars=['SHOPIFY_TOKEN', 'SHOPIFY_API_KEY'])\n")
    proc = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=_env(home), timeout=60, check=False)
    assert proc.returncode == 1
    assert "Set one of the environment variables SHOPIFY_TOKEN, SHOPIFY_API_KEY" in proc.stderr


def test_resolution_reaches_prompt_on_a_terminal(home: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    code = ("from purelink.secrets.resolve import resolve_secret\n"
            "s = resolve_secret('stripe', env_vars=['STRIPE_API_KEY'])\n"
            "print('got', s, s.source, len(s.reveal()))\n")
    child = pexpect.spawn(sys.executable, ["-c", code], env=_env(home), encoding="utf-8", timeout=30)
    child.expect("input hidden")
    child.sendline(KEY)
    child.expect(pexpect.EOF)
    assert f"got sk_test_****DfGh prompt {len(KEY)}" in child.before
    assert KEY not in child.before  # getpass does not echo


# --- key checks --------------------------------------------------------------------------------


def test_key_format_accepts_a_good_key() -> None:
    check_key_format(KEY, STRIPE_PATTERN, source_title="Stripe", key_prefix_hint=["sk_test_", "sk_live_", "rk_"])
    check_key_format(Secret(KEY), STRIPE_PATTERN, source_title="Stripe")
    check_key_format("anything", None, source_title="Shopify")


@pytest.mark.parametrize("bad", ["pk_test_51HcanaryQ7xZr2LmNpW9vB3kTy8sDfGh", "cus_9s6XKzkNRiz8i3", "sk_test_tooShort",
                                 "https://dashboard.stripe.com/apikeys"])
def test_key_format_names_the_expected_shape(bad: str) -> None:
    with pytest.raises(CredentialError) as info:
        check_key_format(bad, STRIPE_PATTERN, source_title="Stripe",
                         key_prefix_hint=["sk_test_", "sk_live_", "rk_"])
    text = str(info.value)
    assert "Stripe keys start with sk_test_, sk_live_ or rk_." in text
    assert bad not in text


def test_key_format_whitespace_and_empty() -> None:
    with pytest.raises(CredentialError, match="spaces or a line break"):
        check_key_format(KEY + "\n", STRIPE_PATTERN, source_title="Stripe")
    with pytest.raises(CredentialError, match="empty"):
        check_key_format("", STRIPE_PATTERN, source_title="Stripe", key_prefix_hint="sk_")


@pytest.mark.parametrize(("outcome", "kind", "phrase", "error"), [
    (200, "ok", "accepted", None),
    (401, "rejected", "rejected the key", CredentialError),
    (403, "forbidden", "lacks permission for the customers stream", CredentialError),
    (429, "rate_limited", "limiting", None),
    (404, "not_found", "not found", SourceError),
    (503, "server_error", "error of its own", SourceError),
    (ConnectionRefusedError(111, "Connection refused"), "unreachable", "api.stripe.com is unreachable", SourceError),
    (TimeoutError("timed out"), "unreachable", "did not answer in time", SourceError),
    (socket.gaierror(-2, "Name or service not known"), "unreachable", "(DNS)", SourceError),
    (ValueError("odd"), "unexpected", "failed", SourceError),
])
def test_classify_health_check(outcome, kind, phrase, error) -> None:
    result = classify_health_check(outcome, source_title="Stripe", host="api.stripe.com", stream="customers")
    assert result.kind == kind
    assert phrase in result.message
    assert result.guidance or kind == "ok"
    if error is None:
        result.raise_for_problem()
    else:
        with pytest.raises(error):
            result.raise_for_problem()


def test_health_check_guidance_differs() -> None:
    kinds = [classify_health_check(x, source_title="Stripe") for x in (401, 403, ConnectionRefusedError())]
    assert len({k.guidance for k in kinds}) == 3


def test_classify_real_httpx_errors() -> None:
    httpx = pytest.importorskip("httpx")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        httpx.get(f"http://127.0.0.1:{port}/v1/customers", timeout=5)
    except httpx.HTTPError as exc:
        result = classify_health_check(exc, source_title="Stripe", host=f"127.0.0.1:{port}")
    assert result.kind == "unreachable" and f"127.0.0.1:{port} is unreachable" in result.message
    response = httpx.Response(401)
    assert classify_health_check(response, source_title="Stripe").kind == "rejected"


# --- the command line --------------------------------------------------------------------------


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PURELINK_VAULT_PASSPHRASE", "STRIPE_API_KEY")}
    env.update(PURELINK_HOME=str(home), PURELINK_VAULT_KEYRING="0",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])), **extra)
    return env


def cli(home: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "purelink.cli.secrets", *args], input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL, capture_output=True,
                          text=True, env=_env(home, **env), timeout=60, check=False)


def test_cli_set_list_delete(home: Path) -> None:
    outputs = []
    r = cli(home, "set", "stripe", "--from-env", "CANARY_VAR", CANARY_VAR=KEY)
    outputs.append(r)
    assert r.returncode == 0, r.stderr
    assert "Saved stripe (sk_test_****DfGh)" in r.stdout

    r = cli(home, "set", "warehouse", stdin="a-database-password-42\n")
    outputs.append(r)
    assert r.returncode == 0, r.stderr
    assert Vault().get("warehouse").reveal() == "a-database-password-42"
    assert Vault().get("stripe").reveal() == KEY

    r = cli(home, "list", "--format", "json")
    outputs.append(r)
    listed = json.loads(r.stdout)
    assert [e["name"] for e in listed] == ["stripe", "warehouse"]
    assert all(e["created"] and e["updated"] and e["key_source"] == "key file" for e in listed)

    r = cli(home, "list")
    outputs.append(r)
    assert r.returncode == 0 and r.stdout.splitlines()[0].split() == ["NAME", "UPDATED", "CREATED", "KEY"]

    r = cli(home, "delete", "stripe")
    outputs.append(r)
    assert r.returncode == 0 and Vault().get("stripe") is None
    r = cli(home, "delete", "stripe")
    outputs.append(r)
    assert r.returncode == 1 and "no secret named 'stripe'" in r.stderr and "Traceback" not in r.stderr

    for proc in outputs:
        assert KEY not in proc.stdout + proc.stderr
        assert "a-database-password-42" not in proc.stdout + proc.stderr
    stored = all_bytes(home)
    assert KEY.encode() not in stored and b"a-database-password-42" not in stored


def test_cli_errors_without_traceback(home: Path) -> None:
    r = cli(home, "set", "stripe", "--from-env", "NOT_SET_ANYWHERE")
    assert r.returncode == 1 and "NOT_SET_ANYWHERE is not set" in r.stderr and "Traceback" not in r.stderr
    r = cli(home, "set", "stripe", stdin="")
    assert r.returncode == 1 and "No value was given" in r.stderr
    r = cli(home, "set", "../x", "--from-env", "V", V=KEY)
    assert r.returncode == 1 and "not a valid secret name" in r.stderr
    assert cli(home, "list", "--format", "json").stdout.strip() == "[]"
    assert "is empty" in cli(home, "list").stdout


def test_cli_reports_tampering(home: Path) -> None:
    cli(home, "set", "stripe", "--from-env", "V", V=KEY)
    os.chmod(home / "vault" / "master.key", 0o644)
    r = cli(home, "set", "other", "--from-env", "V", V=KEY)
    assert r.returncode == 1 and "chmod 600" in r.stderr and "Traceback" not in r.stderr


def test_cli_hidden_prompt_on_a_terminal(home: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-m", "purelink.cli.secrets", "set", "stripe"], env=_env(home),
                          encoding="utf-8", timeout=30)
    child.expect("input hidden")
    child.sendline(KEY)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert KEY not in child.before and "Saved stripe" in child.before
    assert Vault().get("stripe").reveal() == KEY


# --- the OS keyring (optional) -----------------------------------------------------------------


@pytest.fixture
def keyring_backend(home: Path, monkeypatch: pytest.MonkeyPatch):
    keyring = pytest.importorskip("keyring")
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        # No desktop keyring daemon runs here; this stands in for one, with the keyring API's
        # own base class, so the vault's choice and use of a backend are what is tested.
        priority = 5

        def __init__(self) -> None:
            super().__init__()
            self.store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            del self.store[(service, username)]

    monkeypatch.setenv("PURELINK_VAULT_KEYRING", "1")
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_keyring_holds_the_key_when_it_works(home: Path, keyring_backend) -> None:
    Vault().set("stripe", KEY)
    assert Vault().key_source == "keyring"
    assert not (home / "vault" / "master.key").exists()
    assert len(keyring_backend.store) == 1
    assert Vault().get("stripe").reveal() == KEY
    assert Vault(use_keyring=False).key_source == "key file"


def test_unsafe_keyrings_are_refused(home: Path, keyring_backend) -> None:
    import keyring
    import keyring.backends.fail
    import keyring.backends.null

    Vault().set("stripe", KEY)  # with the working keyring
    for unsafe in (keyring.backends.null.Keyring(), keyring.backends.fail.Keyring()):
        keyring.set_keyring(unsafe)
        assert Vault().key_source == "key file"
        with pytest.raises(CredentialError, match="different key") as info:
            Vault().get("stripe")
        assert "OS keyring" in info.value.guidance
