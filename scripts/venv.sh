#!/usr/bin/env bash
# A tool's own virtual environment, cached by the hash of its requirements: prints the venv's python.
#
#   bash scripts/venv.sh scripts/requirements/bq-emulator.txt
#   bash scripts/venv.sh --all        build every scripts/requirements/*.txt (scripts/test.sh starts
#                                     this in the background, so the tests find them ready)
#
# The venv lives under ~/.cache/purelink/venvs/<name>-<hash of the file and the interpreter's
# version> ($PURELINK_VENVS elsewhere): a changed requirement builds a fresh one, and a machine
# keeps it between runs. Built from nothing with pip's own configuration (index, mirror,
# find-links; no registry is named here), aside and moved in place when complete, so an
# interrupted build is never taken for a finished one. A lock per venv makes a second caller
# (a test fixture while the background build runs) wait for the first instead of building twice.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "${1:-}" = "--all" ]; then
    for req in "$here"/requirements/*.txt; do bash "$0" "$req" >/dev/null; done
    exit 0
fi
req="$1"
python="${PYTHON:-python3}"
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
hash="$( (cat "$req"; echo "$pyver") | sha256sum | cut -c1-16)"
root="${PURELINK_VENVS:-$HOME/.cache/purelink/venvs}"
name="$(basename "$req" .txt)"
venv="$root/$name-$hash"
mkdir -p "$root"
exec 9>"$root/.$name.lock"
flock 9
if [ ! -f "$venv/.complete" ]; then
    tmp="$(mktemp -d "$root/.$name-build-XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    start=$(date +%s)
    echo "venv: building $name (python $pyver) ..." >&2
    "$python" -m venv "$tmp/venv" >&2
    "$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
    "$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
    touch "$tmp/venv/.complete"
    rm -rf "$venv"
    mv "$tmp/venv" "$venv"
    # A venv's scripts name their interpreter by absolute path: point them at the final folder.
    grep -rlI --null "$tmp/venv" "$venv/bin" | xargs -0 -r sed -i "s#$tmp/venv#$venv#g"
    echo "venv: $name built in $(( $(date +%s) - start )) s: $venv" >&2
fi
echo "$venv/bin/python"
