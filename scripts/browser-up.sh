#!/usr/bin/env bash
# Make the notebook test stack present on this machine, idempotently, with no questions asked
# (CI has no stdin): Debian's chromium, and in the current Python jupyterlab, ipywidgets, ipylab,
# nbval, nbclient, ipykernel and playwright (driven with executable_path=/usr/bin/chromium: no
# browser download, which these machines could not do anyway).
#
#   scripts/browser-up.sh            install what is missing, then print the versions found
#
# Environment:
#   PURELINK_PYTHON   the Python to install into (default: python3 on PATH)
set -euo pipefail

PY="${PURELINK_PYTHON:-python3}"
PIP_PACKAGES=(
    "jupyterlab>=4.1,<5" "ipywidgets>=8.1" "ipylab>=1.0,<2" "ipykernel>=6.29" "nbformat>=5.9"
    "nbclient>=0.10" "nbval>=0.11" "playwright>=1.44" "pytest-timeout>=2.3"
)

say() { echo "browser-up: $*" >&2; }

if ! command -v chromium >/dev/null 2>&1; then
    say "installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    # Another script may hold the dpkg lock (docker-up.sh installs docker.io): wait for it.
    apt_get() { apt-get -o DPkg::Lock::Timeout=300 -y -q "$@"; }
    if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        apt_get update >/dev/null
    fi
    apt_get install --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

missing() {
    "$PY" -c '
import importlib.util
mods = {"jupyterlab": "jupyterlab", "ipywidgets": "ipywidgets", "ipylab": "ipylab", "ipykernel": "ipykernel",
        "nbformat": "nbformat", "nbclient": "nbclient", "nbval": "nbval", "playwright": "playwright",
        "pytest_timeout": "pytest-timeout"}
print(" ".join(pkg for mod, pkg in mods.items() if importlib.util.find_spec(mod) is None))'
}

if [ -n "$(missing)" ]; then
    say "pip installing: $(missing)"
    # pip's notes about this machine's index settings are filtered out; its errors still show
    "$PY" -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}" 2>&1 \
        | grep -v -e "is ignored: it is neither a file nor a directory" -e "Running pip as the 'root' user" >&2 \
        || true
    still="$(missing)"
    if [ -n "$still" ]; then
        say "could not install: $still"
        exit 1
    fi
fi

# The Python kernel must be registered where the server looks for kernels.
"$PY" -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true

say "$(chromium --version 2>/dev/null | head -1)"
"$PY" -c '
from importlib.metadata import version
print("browser-up: " + ", ".join(f"{p} {version(p)}" for p in
      ("jupyterlab", "ipywidgets", "ipylab", "nbval", "playwright")))' >&2
