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
case "${1:-start}" in
start)
    python="$(bash "$here/venv.sh" "$here/requirements/moto.txt")"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    log="${MOTO_LOG:-$(mktemp -t moto-XXXXXX.log)}"
    nohup "$python" -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    pid=$!
    url="http://127.0.0.1:$port"
    for _ in $(seq 1 600); do
        if curl -s -o /dev/null "$url/moto-api/"; then
            echo "export S3_ENDPOINT_URL='$url'"
            echo "export MOTO_PID='$pid'"
            exit 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "moto-up: moto exited at start; its log ($log):" >&2
            tail -20 "$log" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "moto-up: no answer on $url after 120 s; log: $log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
    ;;
stop)
    kill "${2:?pid}" 2>/dev/null || true
    ;;
*)
    echo "usage: moto-up.sh start | stop PID" >&2
    exit 2
    ;;
esac
