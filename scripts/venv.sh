#!/usr/bin/env bash
# A tool's venv, cached by the hash of its requirements file: prints the venv's python.
#
#   bash scripts/venv.sh scripts/requirements/bq-emulator.txt
#
# Created from nothing when missing (CI, a new machine), reused as it is otherwise: a changed
# requirements file gets a new hash and so a new venv. Built in a temporary folder and renamed
# when complete, so a killed install never leaves a half venv that looks ready.
set -euo pipefail
req="$1"
hash="$(sha256sum "$req" | cut -c1-16)"
root="${PURELINK_VENV_CACHE:-$HOME/.cache/purelink/venvs}"
venv="$root/$(basename "$req" .txt)-$hash"
if [ ! -x "$venv/bin/python" ]; then
    mkdir -p "$root"
    tmp="$(mktemp -d "$root/.build-XXXXXX")"
    python3 -m venv "$tmp" >&2
    "$tmp/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
    rm -rf "$venv"
    mv "$tmp" "$venv"
fi
echo "$venv/bin/python"
