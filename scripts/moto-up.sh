#!/usr/bin/env bash
# An S3-compatible object store on this machine: moto's standalone server, for the Iceberg tests.
#
#   eval "$(bash scripts/moto-up.sh start)"   # sets S3_ENDPOINT_URL and MOTO_PID
#   bash scripts/moto-up.sh stop "$MOTO_PID"
#
# moto runs from its own venv (scripts/venv.sh: cached under ~/.cache/purelink/venvs, built from
# nothing when missing) on a free port, and is waited for by polling it. Any access key works.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/wait-http.sh"
case "${1:-start}" in
start)
    python="$(bash "$here/venv.sh" "$here/requirements/moto.txt")"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    log="${MOTO_LOG:-$(mktemp -t moto-XXXXXX.log)}"
    nohup "$python" -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    pid=$!
    url="http://127.0.0.1:$port"
    wait_for_http moto-up "$url/moto-api/" "$pid" "$log"
    echo "export S3_ENDPOINT_URL='$url'"
    echo "export MOTO_PID='$pid'"
    ;;
stop)
    kill "${2:?pid}" 2>/dev/null || true
    ;;
*)
    echo "usage: moto-up.sh start | stop PID" >&2
    exit 2
    ;;
esac
