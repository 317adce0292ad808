#!/usr/bin/env bash
# Apache Airflow in its own virtual environment (scripts/requirements/airflow.txt, through
# scripts/venv.sh: cached, built from nothing when missing): prints the venv's folder.
#
#   venv="$(bash scripts/airflow-venv.sh)"
#   "$venv/bin/airflow" version
set -euo pipefail
python="$(bash "$(dirname "$0")/venv.sh" "$(dirname "$0")/requirements/airflow.txt")"
dirname "$(dirname "$python")"
