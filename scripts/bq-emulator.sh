#!/usr/bin/env bash
# The BigQuery emulator (bqemulator, DuckDB-backed, BigQuery's REST API) for tests and demos.
#
#   eval "$(bash scripts/bq-emulator.sh start)"   # sets BQ_EMULATOR_URL and BQ_EMULATOR_PID
#   bash scripts/bq-emulator.sh stop "$BQ_EMULATOR_PID"
#
# It runs from its own venv (scripts/venv.sh: cached under ~/.cache/purelink/venvs, built from
# nothing when missing), on free ports, and is waited for by polling its REST endpoint. GEOGRAPHY
# columns are not supported: the launcher turns DuckDB's spatial extension off (see
# scripts/bq_emulator_launch.py).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/wait-http.sh"
case "${1:-start}" in
start)
    python="$(bash "$here/venv.sh" "$here/requirements/bq-emulator.txt")"
    read -r rest grpc < <(python3 -c 'import socket
ports = []
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0)); ports.append(s.getsockname()[1])
print(*ports)')
    log="${BQ_EMULATOR_LOG:-$(mktemp -t bq-emulator-XXXXXX.log)}"
    nohup "$python" "$here/bq_emulator_launch.py" start --rest-host 127.0.0.1 --rest-port "$rest" \
        --grpc-host 127.0.0.1 --grpc-port "$grpc" --ephemeral --log-level warning >"$log" 2>&1 &
    pid=$!
    url="http://127.0.0.1:$rest"
    wait_for_http bq-emulator "$url/bigquery/v2/projects/probe/datasets" "$pid" "$log"
    echo "export BQ_EMULATOR_URL='$url'"
    echo "export BQ_EMULATOR_PID='$pid'"
    ;;
stop)
    kill "${2:?pid}" 2>/dev/null || true
    ;;
*)
    echo "usage: bq-emulator.sh start | stop PID" >&2
    exit 2
    ;;
esac
