#!/usr/bin/env bash
# Apache Airflow in its own virtual environment, cached by the hash of its requirements.
#
#   venv="$(scripts/airflow-venv.sh)"        prints the venv's folder on stdout (built when missing)
#   "$venv/bin/airflow" version
#
# The venv lives under ~/.cache/purelink/venvs/airflow-<hash of scripts/airflow-requirements.txt and the
# interpreter's version>, so a changed requirement builds a fresh one and CI can cache the folder.
# It is built from nothing with pip's own configuration (index, mirror, find-links): no registry is
# named here. Build time is printed on stderr.
#
# Environment:
#   PURELINK_VENVS    where venvs are cached (default ~/.cache/purelink/venvs)
#   PYTHON            the interpreter to build with (default python3)
set -euo pipefail

say() { echo "airflow-venv: $*" >&2; }
here="$(cd "$(dirname "$0")" && pwd)"
req="$here/airflow-requirements.txt"
python="${PYTHON:-python3}"
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
hash="$( (cat "$req"; echo "$pyver") | sha256sum | cut -c1-16)"
root="${PURELINK_VENVS:-$HOME/.cache/purelink/venvs}"
venv="$root/airflow-$hash"

if [ -x "$venv/bin/airflow" ] && [ -f "$venv/.complete" ]; then
    say "cached: $venv"
    echo "$venv"
    exit 0
fi
mkdir -p "$root"
# Built aside and moved in place, so an interrupted build is never taken for a finished one.
tmp="$(mktemp -d "$root/.airflow-build-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
say "building $venv (python $pyver) ..."
"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip >&2
"$tmp/venv/bin/pip" install -q -r "$req" >&2
touch "$tmp/venv/.complete"
rm -rf "$venv"
mv "$tmp/venv" "$venv"
# A venv's scripts name their interpreter by absolute path: point them at the final folder.
grep -rlI --null "$tmp/venv" "$venv/bin" | xargs -0 -r sed -i "s#$tmp/venv#$venv#g"
say "built in $(( $(date +%s) - start )) s: $venv"
echo "$venv"
