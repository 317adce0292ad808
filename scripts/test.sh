#!/usr/bin/env bash
# Install purelink with everything its tests need, start the real services they use, run them all.
#
#   bash scripts/test.sh [PYTEST ARGS...]
#
# Services: a Docker engine with an offline base image (scripts/docker-up.sh,
# scripts/build-base-image.sh), Chromium + JupyterLab for the notebook tests
# (scripts/browser-up.sh). PostgreSQL clusters are started by the tests themselves from the
# server binaries (scripts/postgres-up.sh installs them if missing). No questions asked: CI
# runs this with no standard input.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)" >&2; }

step "install purelink and test dependencies"
python3 -m pip install -q -e ".[jupyter,postgres,gemini,bigquery,iceberg,test]" 2>&1 | grep -v "running pip as the 'root' user" >&2 || true

step "tools in their own venvs (Airflow, the BigQuery emulator, moto), built in the background"
# Cached under ~/.cache/purelink/venvs by their requirements; on a new machine they take minutes
# to build, so they build while the services start and the first tests run. A test that needs one
# waits on its lock (scripts/venv.sh) rather than building it again.
mkdir -p "${PURELINK_VENVS:-$HOME/.cache/purelink/venvs}"
venv_log="${PURELINK_VENVS:-$HOME/.cache/purelink/venvs}/build.log"
setsid bash scripts/venv.sh --all >"$venv_log" 2>&1 &
venvs=$!
trap 'kill -- -"$venvs" 2>/dev/null || true' EXIT  # its own process group: pip goes too

step "Docker engine and the offline base image"
bash scripts/docker-up.sh
bash scripts/build-base-image.sh
export PURELINK_BASE_IMAGE="${PURELINK_BASE_IMAGE:-purelink-base:bookworm}"

step "Chromium, JupyterLab and notebook tools"
bash scripts/browser-up.sh

step "PostgreSQL server binaries"
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && ! command -v pg_config >/dev/null 2>&1; then
    apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
    apt-get -o DPkg::Lock::Timeout=300 install -y -q postgresql-15 </dev/null >/dev/null
fi

step "cron (the scheduling tests install entries with the real crontab)"
command -v crontab >/dev/null 2>&1 || { apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
    apt-get -o DPkg::Lock::Timeout=300 install -y -q cron </dev/null >/dev/null; }

# In parallel (pytest-xdist): most tests wait on servers, containers, PostgreSQL or the browser,
# not on a core, so more workers than cores pay off (measured on 2 cores: docs/architecture.md,
# "Running the tests"). --dist loadgroup keeps the tests marked with one xdist_group (a resource
# there is one of per machine, such as the user's crontab) in one worker, one after another.
# PURELINK_TEST_WORKERS=0 runs them all in this process; `-n` among the arguments wins too.
workers="${PURELINK_TEST_WORKERS:-6}"
step "tests ($workers workers)"
python3 -m pytest -q -p no:cacheprovider -n "$workers" --dist loadgroup "$@"
