"""`purelink secrets set NAME [--from-env VAR] / list / delete NAME`: the encrypted vault.

A value never comes from the command line itself (it would land in shell history and `ps`):
`set` reads it from an environment variable, a hidden prompt, or standard input when piped.
Nothing here prints a value, only its mask.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="secrets_action", metavar="ACTION", required=True)

    p = sub.add_parser("set", help="encrypt and store a key or password",
                       description="Encrypt and store a key or password under NAME. The value is read "
                       "from --from-env VAR, else from a hidden prompt, else from standard input.")
    p.add_argument("name", metavar="NAME", help="the name recipes use for it, e.g. stripe")
    p.add_argument("--from-env", metavar="VAR", help="read the value from this environment variable")
    p.add_argument("--passphrase", action="store_true",
                   help="protect the vault with a passphrase (asked for, hidden); "
                   "or set PURELINK_VAULT_PASSPHRASE")

    p = sub.add_parser("list", help="names and dates of the stored secrets (never their values)")
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = sub.add_parser("delete", help="remove a stored secret")
    p.add_argument("name", metavar="NAME")


def run(args: argparse.Namespace) -> int:
    return {"set": _set, "list": _list, "delete": _delete}[args.secrets_action](args)


def _read_value(args: argparse.Namespace) -> str:
    import getpass
    import os

    from purelink.errors import CredentialError

    if args.from_env:
        value = os.environ.get(args.from_env, "")
        if not value.strip():
            raise CredentialError(f"The environment variable {args.from_env} is not set or is empty.",
                                  f"Set it first (export {args.from_env}=...), or leave out --from-env to "
                                  "type the value at a hidden prompt.")
        return value.strip()
    if sys.stdin is not None and sys.stdin.isatty():
        value = getpass.getpass(f"Value for {args.name} (input hidden): ")
    else:
        value = sys.stdin.read() if sys.stdin is not None else ""
    value = value.strip("\r\n")
    if not value.strip():
        raise CredentialError(f"No value was given for {args.name!r}.",
                              f"Pipe it in (printf %s \"$KEY\" | purelink secrets set {args.name}), use "
                              "--from-env VAR, or run in a terminal to type it at a hidden prompt.")
    return value


def _ask_passphrase() -> str:
    import getpass

    from purelink.errors import CredentialError

    if not sys.stdin.isatty():
        raise CredentialError("--passphrase asks for the passphrase in a terminal, and there is none.",
                              "Set PURELINK_VAULT_PASSPHRASE instead.")
    return getpass.getpass("Vault passphrase (input hidden): ")


def _set(args: argparse.Namespace) -> int:
    from purelink.secrets.vault import Secret, Vault, check_secret_name

    check_secret_name(args.name)  # a bad name is reported before the value is asked for
    vault = Vault(passphrase=_ask_passphrase() if args.passphrase else None)
    value = Secret(_read_value(args))
    vault.set(args.name, value)
    print(f"Saved {args.name} ({value.masked()}) in the vault, encrypted with a key from the "
          f"{vault.key_source}: {vault.path}")
    return 0


def _list(args: argparse.Namespace) -> int:
    import json

    from purelink.secrets.vault import Vault

    vault = Vault()
    infos = vault.list()
    if args.format == "json":
        print(json.dumps([{"name": i.name, "created": i.created, "updated": i.updated,
                           "key_source": i.key_source, "damaged": i.damaged} for i in infos], indent=2))
        return 0
    if not infos:
        print(f"The vault ({vault.path}) is empty. Add a secret with `purelink secrets set NAME`.")
        return 0
    rows = [("NAME", "UPDATED", "CREATED", "KEY")] + [
        (i.name, i.updated or "-", i.created or "-", "damaged file" if i.damaged else (i.key_source or "-"))
        for i in infos]
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _delete(args: argparse.Namespace) -> int:
    from purelink.secrets.vault import Vault

    Vault().delete(args.name)
    print(f"Deleted {args.name} from the vault.")
    return 0


if __name__ == "__main__":
    from purelink.cli import module_main

    sys.exit(module_main("secrets"))
